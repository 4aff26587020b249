// `rlvr tokenize`, `rlvr init-tokenizer` and `rlvr bench tokenizer`: thin adapters over
// rlvr::Tokenizer. JSON lines in and out, buffered; errors name the stdin line number.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "out_dir.h"
#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/tokenizer/jsonl.h"
#include "rlvr/tokenizer/tokenizer.h"

namespace rlvr::cli {
namespace {

using json = nlohmann::json;

std::string read_stdin() {
  std::string data;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) data.append(buf, n);
  return data;
}

void run_tokenize(const std::string& path, bool decode) {
  Tokenizer tok = Tokenizer::load(path);
  std::string in = read_stdin();
  auto sink = [](std::string_view chunk) { std::fwrite(chunk.data(), 1, chunk.size(), stdout); };
  if (decode) decode_jsonl(tok, in, sink);
  else encode_jsonl(tok, in, sink);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// Seconds of one call of fn.
template <typename Fn>
double seconds(Fn fn) {
  const Stopwatch clock;
  fn();
  return clock.seconds();
}

void run_bench(const std::string& path, const std::string& data, int reps) {
  RLVR_CHECK(reps >= 1, "--reps must be at least 1");
  std::vector<std::string> texts;
  std::string jsonl;  // the same texts as {"text": ...} lines, for the `rlvr tokenize` pipeline
  size_t bytes = 0;
  for (const auto& row : read_jsonl_file(data)) {
    for (const char* key : {"text", "question", "answer"}) {
      if (row.is_object() && row.contains(key) && row[key].is_string()) {
        texts.push_back(row[key].get<std::string>());
        bytes += texts.back().size();
        jsonl += json{{"text", texts.back()}}.dump() + "\n";
      }
    }
  }
  RLVR_CHECK(!texts.empty(), data, ": no string field \"text\", \"question\" or \"answer\" found");
  std::vector<double> load, cold, warm, pipe;
  std::optional<Tokenizer> tok;
  for (int r = 0; r < reps; ++r) load.push_back(seconds([&] { tok = Tokenizer::load(path); }));
  size_t tokens = 0, out_bytes = 0;
  auto encode_all = [&] {
    tokens = 0;
    for (const auto& t : texts) tokens += tok->encode(t).size();
  };
  for (int r = 0; r < reps; ++r) {
    tok->clear_cache();
    cold.push_back(seconds(encode_all));
  }
  for (int r = 0; r < reps; ++r) warm.push_back(seconds(encode_all));
  for (int r = 0; r < reps; ++r) {
    tok->clear_cache();
    pipe.push_back(seconds([&] {
      encode_jsonl(*tok, jsonl, [&](std::string_view c) { out_bytes += c.size(); });
    }));
  }
  double mb = bytes / 1e6, l = median(load), c = median(cold), w = median(warm), p = median(pipe);
  std::printf("tokenizer %s (%d ids)\n", tok->path().c_str(), tok->vocab_size());
  std::printf("data      %s: %zu texts, %.2f MB, %zu tokens; median of %d runs, 1 thread\n",
              data.c_str(), texts.size(), mb, tokens, reps);
  std::printf("%-40s %9s %9s %12s\n", "pass", "seconds", "MB/s", "tokens/s");
  std::printf("%-40s %9.3f\n", "load tokenizer", l);
  auto row = [&](const char* name, double s) {
    std::printf("%-40s %9.3f %9.2f %12.0f\n", name, s, mb / s, tokens / s);
  };
  row("encode, cold word cache", c);
  row("encode, warm word cache", w);
  row("JSONL in/out + encode, cold cache", p);
  row("load + JSONL + encode (rlvr tokenize)", l + p);
  json j = {{"mb_per_s", mb / c},          {"tokens_per_s", tokens / c},
            {"warm_mb_per_s", mb / w},     {"warm_tokens_per_s", tokens / w},
            {"jsonl_mb_per_s", mb / p},    {"load_plus_jsonl_mb_per_s", mb / (l + p)},
            {"load_s", l},                 {"bytes", bytes},
            {"tokens", tokens},            {"reps", reps}};
  std::printf("%s\n", j.dump().c_str());
}

}  // namespace

void add_tokenizer_commands(CLI::App& app, CLI::App& bench) {
  auto path = std::make_shared<std::string>();
  auto decode = std::make_shared<bool>(false);
  CLI::App* tk = app.add_subcommand(
      "tokenize", "Encode JSON lines {\"text\": ...} from stdin to {\"ids\": [...]} on stdout "
                  "(or decode with --decode)");
  tk->add_option("--tokenizer", *path, "tokenizer.json or a model folder holding one")->required();
  tk->add_flag("--decode", *decode, "read {\"ids\": [...]} lines and write {\"text\": ...} lines");
  tk->callback([path, decode] { run_tokenize(*path, *decode); });

  auto out = std::make_shared<std::string>();
  auto byte_level = std::make_shared<bool>(false);
  auto force = std::make_shared<bool>(false);
  CLI::App* init = app.add_subcommand(
      "init-tokenizer", "Write a tokenizer for tiny models (tokenizer.json + tokenizer_config.json)");
  init->add_flag("--byte-level", *byte_level,
                 "256 byte tokens + <|endoftext|>, <|im_start|>, <|im_end|>; no merges (required)");
  init->add_option("--out", *out, "output folder (created if missing)")->required();
  init->add_flag("--force", *force, "overwrite the tokenizer already in --out");
  init->callback([out, byte_level, force] {
    RLVR_CHECK(*byte_level, "init-tokenizer: pass --byte-level (the only kind available)");
    refuse_overwrite(*out, {"tokenizer.json", "tokenizer_config.json"}, *force);
    write_byte_level_tokenizer(*out);
    std::printf("wrote %s and %s\n", join_path(*out, "tokenizer.json").c_str(),
                join_path(*out, "tokenizer_config.json").c_str());
  });

  auto data = std::make_shared<std::string>();
  auto reps = std::make_shared<int>(5);
  CLI::App* bt = bench.add_subcommand(
      "tokenizer", "Single-thread encode speed (MB/s, tokens/s) over a JSONL file's "
                   "\"text\" / \"question\" / \"answer\" fields");
  bt->add_option("--tokenizer", *path, "tokenizer.json or a model folder holding one")->required();
  bt->add_option("--data", *data, "JSONL file")->required();
  bt->add_option("--reps", *reps, "repetitions per measurement; the median is reported");
  bt->callback([path, data, reps] { run_bench(*path, *data, *reps); });
}

}  // namespace rlvr::cli
