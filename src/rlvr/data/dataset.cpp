// JSONL problem loading (GSM8K and generic field names, files or a dataset folder's split) and
// the seeded validation split.
#include "rlvr/data/dataset.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/data/shuffle.h"
#include "rlvr/data/text.h"

namespace rlvr {

using namespace rlvr::data;  // NOLINT: module-private helpers

nlohmann::json problem_fields(const Problem& p) {
  nlohmann::json j = nlohmann::json::parse(p.row, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : nlohmann::json::object();
}

std::string gsm8k_json_line(const Problem& p) {
  return nlohmann::json({{"question", p.question}, {"answer", p.solution_raw}}).dump();
}

void write_gsm8k_jsonl(const std::string& path, const std::vector<Problem>& problems) {
  std::string text;
  for (const auto& p : problems) text += gsm8k_json_line(p) + "\n";
  write_text_file(path, text);
}

DataFormat parse_data_format(const std::string& s) {
  if (s == "auto") return DataFormat::kAuto;
  if (s == "gsm8k") return DataFormat::kGsm8k;
  if (s == "jsonl") return DataFormat::kJsonl;
  fail("unknown dataset format '", s, "'; use auto, gsm8k or jsonl");
}

bool parse_gsm8k_answer(const std::string& answer_field, std::string* reference) {
  size_t pos = answer_field.rfind("####");
  if (pos == std::string::npos) return false;
  *reference = trim(answer_field.substr(pos + 4));
  return true;
}

namespace {

// A field as text: strings as is, numbers in their JSON spelling; anything else is malformed.
bool field_text(const nlohmann::json& obj, const std::string& key, std::string* out,
                std::string* why) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    *why = "missing field \"" + key + "\"";
    return false;
  }
  if (it->is_string()) {
    *out = it->get<std::string>();
    return true;
  }
  if (it->is_number()) {
    *out = it->dump();
    return true;
  }
  *why = "field \"" + key + "\" must be a string or a number, got " + it->type_name();
  return false;
}

// The question field as a list of chat messages (TRL conversational): each an object with a string
// "role"; the last one's string "content" becomes the question text.
bool field_messages(const nlohmann::json& obj, const std::string& key, Problem* p, std::string* why) {
  const nlohmann::json& m = obj.at(key);
  for (const auto& msg : m)
    if (!msg.is_object() || !msg.contains("role") || !msg["role"].is_string()) {
      *why = "field \"" + key + "\" is a list, so each entry must be a message {\"role\": ..., \"content\": ...}";
      return false;
    }
  if (m.empty()) {
    *why = "field \"" + key + "\" is an empty list of messages";
    return false;
  }
  const nlohmann::json& last = m.back().value("content", nlohmann::json());
  p->question = last.is_string() ? last.get<std::string>() : last.dump();
  p->messages = m.dump();
  return true;
}

// Parses one line into a Problem; on failure returns false with the reason in `why`.
bool parse_line(const std::string& line, const DataOptions& opts, Problem* p, std::string* why) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {  // a parse error, or a number out of range
    *why = std::string("invalid JSON (") + e.what() + ")";
    return false;
  }
  if (!j.is_object()) {
    *why = "expected a JSON object, got " + std::string(j.type_name());
    return false;
  }
  std::string qkey = opts.question_field;
  if (qkey.empty()) qkey = (!j.contains("question") && j.contains("prompt")) ? "prompt" : "question";
  const bool chat = j.contains(qkey) && j[qkey].is_array();
  if (!(chat ? field_messages(j, qkey, p, why) : field_text(j, qkey, &p->question, why))) return false;
  p->row = line;
  std::string ans;
  if (!j.contains(opts.answer_field) && (j.contains("tests") || j.contains("test_cases")))
    return true;  // a code task: its tests, not an answer, decide (answer stays empty)
  if (!field_text(j, opts.answer_field, &ans, why)) return false;
  bool has_marker = ans.find("####") != std::string::npos;
  DataFormat fmt = opts.format;
  if (fmt == DataFormat::kAuto) fmt = has_marker ? DataFormat::kGsm8k : DataFormat::kJsonl;
  if (fmt == DataFormat::kGsm8k) {
    if (!parse_gsm8k_answer(ans, &p->answer)) {
      *why = "GSM8K answer has no \"#### <answer>\" line (read answers without one with " +
             opts.format_option + " jsonl)";
      return false;
    }
    p->solution_raw = ans;
  } else {
    p->answer = trim(ans);
    p->solution_raw.clear();
    if (has_marker) {
      parse_gsm8k_answer(ans, &p->answer);
      p->solution_raw = ans;
    }
    if (!opts.solution_field.empty()) {
      if (!field_text(j, opts.solution_field, &p->solution_raw, why)) return false;
    }
  }
  return true;
}

// Appends the problems of one JSONL file to `out` until opts.limit; counts skipped lines.
void load_file(const std::string& path, const DataOptions& opts, std::vector<Problem>* out,
               int64_t* n_skipped) {
  std::ifstream in(path, std::ios::binary);
  RLVR_CHECK(in.good(), path, ": cannot open (", std::strerror(errno), "); check the path");
  std::string line, why;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (opts.limit >= 0 && static_cast<int64_t>(out->size()) >= opts.limit) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    Problem p;
    if (parse_line(line, opts, &p, &why)) {
      out->push_back(std::move(p));
    } else if (opts.skip_malformed) {
      ++*n_skipped;
    } else {
      fail(path, ":", lineno, ": ", why, "; fix or remove that line");
    }
  }
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The shards <split>-*.jsonl of a folder in name order (none when it is not a folder).
std::vector<std::string> split_shards(const std::string& dir, const std::string& split) {
  std::vector<std::string> out;
  if (!is_directory(dir)) return out;
  const std::string ext = ".jsonl";
  for (const auto& n : list_dir(dir))
    if (starts_with(n, split + "-") && n.size() > ext.size() &&
        n.compare(n.size() - ext.size(), ext.size(), ext) == 0)
      out.push_back(join_path(dir, n));
  return out;
}

}  // namespace

std::vector<std::string> dataset_split_files(const std::string& path, const std::string& split) {
  if (!is_directory(path)) return {path};
  RLVR_CHECK(!split.empty(), path, ": is a folder; name one of its JSONL files");
  const std::string data = join_path(path, "data"), file = split + ".jsonl";
  for (const auto& f : {join_path(path, file), join_path(data, file)})
    if (file_exists(f) && !is_directory(f)) return {f};
  for (const auto& dir : {data, path}) {
    std::vector<std::string> shards = split_shards(dir, split);
    if (!shards.empty()) return shards;
  }
  fail(path, ": no ", split, " split in this folder (looked for ", file, ", data/", file, ", data/",
       split, "-*.jsonl and ", split, "-*.jsonl); name the JSONL file instead");
}

std::vector<Problem> load_problems(const std::string& path, const DataOptions& opts,
                                   int64_t* skipped) {
  std::vector<Problem> out;
  int64_t n_skipped = 0;
  for (const auto& file : dataset_split_files(path, opts.split))
    load_file(file, opts, &out, &n_skipped);
  if (skipped) *skipped = n_skipped;
  RLVR_CHECK(!out.empty() || opts.limit == 0, path, ": no problems found (", n_skipped,
             " malformed lines skipped)");
  return out;
}

std::pair<std::vector<Problem>, std::vector<Problem>> split_validation(std::vector<Problem> all,
                                                                       double val_fraction,
                                                                       uint64_t seed) {
  RLVR_CHECK(val_fraction >= 0.0 && val_fraction < 1.0, "validation fraction ", val_fraction,
             " must be in [0, 1)");
  const int64_t n = static_cast<int64_t>(all.size());
  const int64_t n_val = static_cast<int64_t>(std::llround(val_fraction * static_cast<double>(n)));
  std::vector<char> is_val(all.size(), 0);
  std::vector<int64_t> perm = permutation(n, derive_seed(seed, 0x5641u));
  for (int64_t i = 0; i < n_val; ++i) is_val[perm[i]] = 1;
  std::vector<Problem> train, val;
  train.reserve(n - n_val);
  val.reserve(n_val);
  for (int64_t i = 0; i < n; ++i) (is_val[i] ? val : train).push_back(std::move(all[i]));
  return {std::move(train), std::move(val)};
}

}  // namespace rlvr
