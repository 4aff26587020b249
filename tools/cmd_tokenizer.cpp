// `rlvr tokenize`, `rlvr init-tokenizer` and `rlvr bench tokenizer`: thin adapters over
// rlvr::Tokenizer. JSON lines in and out, buffered; errors name the stdin line number.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
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

void run_bench(const std::string& path, const std::string& data, int reps) {
  RLVR_CHECK(reps >= 1, "--reps must be at least 1");
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  Tokenizer tok = Tokenizer::load(path);
  double load_s = std::chrono::duration<double>(clock::now() - t0).count();
  std::vector<std::string> texts;
  size_t bytes = 0;
  for (const auto& row : read_jsonl_file(data)) {
    for (const char* key : {"text", "question", "answer"}) {
      if (row.is_object() && row.contains(key) && row[key].is_string()) {
        texts.push_back(row[key].get<std::string>());
        bytes += texts.back().size();
      }
    }
  }
  RLVR_CHECK(!texts.empty(), data, ": no string field \"text\", \"question\" or \"answer\" found");
  size_t tokens = 0;
  auto pass = [&](bool cold) {
    if (cold) tok.clear_cache();
    size_t n = 0;
    auto s = clock::now();
    for (const auto& t : texts) n += tok.encode(t).size();
    tokens = n;
    return std::chrono::duration<double>(clock::now() - s).count();
  };
  std::vector<double> cold, warm;
  for (int r = 0; r < reps; ++r) cold.push_back(pass(true));
  for (int r = 0; r < reps; ++r) warm.push_back(pass(false));
  double mb = bytes / 1e6, c = median(cold), w = median(warm);
  std::printf("tokenizer  %s (%d ids)\n", tok.path().c_str(), tok.vocab_size());
  std::printf("data       %s: %zu texts, %.2f MB, %zu tokens\n", data.c_str(), texts.size(), mb, tokens);
  std::printf("load       %.3f s\n", load_s);
  std::printf("%-22s %10s %14s\n", "encode, 1 thread", "MB/s", "tokens/s");
  std::printf("%-22s %10.2f %14.0f\n", "cold word cache", mb / c, tokens / c);
  std::printf("%-22s %10.2f %14.0f\n", "warm word cache", mb / w, tokens / w);
  std::printf("(median of %d repetitions each)\n", reps);
  json j = {{"mb_per_s", mb / c},     {"tokens_per_s", tokens / c}, {"warm_mb_per_s", mb / w},
            {"warm_tokens_per_s", tokens / w}, {"load_s", load_s}, {"bytes", bytes},
            {"tokens", tokens},       {"reps", reps}};
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
  CLI::App* init = app.add_subcommand(
      "init-tokenizer", "Write a tokenizer for tiny models (tokenizer.json + tokenizer_config.json)");
  init->add_flag("--byte-level", *byte_level,
                 "256 byte tokens + <|endoftext|>, <|im_start|>, <|im_end|>; no merges (required)");
  init->add_option("--out", *out, "output folder (created if missing)")->required();
  init->callback([out, byte_level] {
    RLVR_CHECK(*byte_level, "init-tokenizer: pass --byte-level (the only kind available)");
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
  bt->add_option("--reps", *reps, "repetitions per measurement; the median is reported")
      ->capture_default_str();
  bt->callback([path, data, reps] { run_bench(*path, *data, *reps); });
}

}  // namespace rlvr::cli
