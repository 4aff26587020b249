// Tests of the CLI's binary layout (docs/architecture.md): the rlvr binary runs its torch-free
// commands without librlvr_torchcli.so, loads the plugin for torch commands and for the full
// help, reports a missing plugin in one line, and prints plugin errors (rlvr::Error, c10::Error)
// as one line; usage errors are one line in rlvr's form with status 2 and --help shows defaults;
// bad values of the model commands' flags end in one line before any work. The commands themselves
// are tested with their modules.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "testlib.h"

namespace rlvr {
namespace {

size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// Runs `rlvr args`, expecting a non-zero exit, nothing on stdout and one line on stderr that
// holds `what`.
void expect_error_line(const std::string& args, const std::string& what) {
  auto r = test::run_cmd(test::rlvr_bin() + " " + args);
  EXPECT_NE(r.status, 0) << args;
  EXPECT_EQ(r.out, "") << args;
  EXPECT_EQ(count_of(r.err, "\n"), 1u) << args << ":\n" << r.err;
  EXPECT_TRUE(has(r.err, what)) << args << ": '" << what << "' not in:\n" << r.err;
}

// A tiny byte-level model with its tokenizer, written by the CLI itself, in `dir`/model.
std::string cli_model(const std::string& dir) {
  const std::string model = dir + "/model", config = dir + "/config.json";
  std::ofstream(config) << R"({"model_type": "qwen2", "hidden_size": 16, "intermediate_size": 32,
    "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 259,
    "max_position_embeddings": 256, "tie_word_embeddings": true, "eos_token_id": 258})";
  auto r = test::run_cmd(test::rlvr_bin() + " init-tokenizer --byte-level --out " + model);
  EXPECT_EQ(r.status, 0) << r.err;
  r = test::run_cmd(test::rlvr_bin() + " init-model --config " + config + " --out " + model);
  EXPECT_EQ(r.status, 0) << r.err;
  return model;
}

std::string gsm8k_test() { return test::shared_data() + "/gsm8k/test.jsonl"; }

TEST(CliLayout, FullHelpListsTorchAndTorchFreeCommands) {
  auto r = test::run_cmd(test::rlvr_bin() + " --help");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* cmd : {"tokenize", "init-tokenizer", "score", "data", "report", "bench",
                          "init-model", "info", "generate", "train", "sft"})
    EXPECT_TRUE(has(r.out, std::string("\n  ") + cmd + " ")) << cmd << " missing from:\n" << r.out;
  r = test::run_cmd(test::rlvr_bin() + " bench --help");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(has(r.out, "\n  tokenizer ")) << r.out;
  EXPECT_TRUE(has(r.out, "\n  generate ")) << r.out;
}

TEST(CliLayout, PluginErrorsAreOneLine) {
  // rlvr::Error thrown inside the plugin.
  auto r = test::run_cmd(test::rlvr_bin() + " info --model /nonexistent/model");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("rlvr: error: ", 0), 0u) << r.err;
  EXPECT_TRUE(has(r.err, "/nonexistent/model")) << r.err;
  EXPECT_EQ(count_of(r.err, "\n"), 1u) << r.err;
  // c10::Error (a bad device string) is printed without its backtrace.
  r = test::run_cmd(test::rlvr_bin() + " generate --model /nonexistent --device bogus --prompt-ids 1");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("rlvr: error: ", 0), 0u) << r.err;
  EXPECT_TRUE(has(r.err, "bogus")) << r.err;
  EXPECT_EQ(count_of(r.err, "\n"), 1u) << r.err;
}

TEST(CliLayout, TorchFreeCommandsRunWithoutThePlugin) {
  // A copy of the binary alone in a folder: no librlvr_torchcli.so beside it.
  const std::string dir = test::scratch_dir("cli_no_plugin");
  const std::string bin = dir + "/rlvr";
  std::filesystem::copy_file(test::rlvr_bin(), bin);
  auto r = test::run_cmd(bin + " --version");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "rlvr 0.1.0\n");
  r = test::run_cmd(bin + " tokenize --tokenizer " + test::shared_data() + "/qwen-tokenizer",
                    "{\"text\": \"Hello world\"}\n");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "{\"ids\": [9707, 1879]}\n");
  r = test::run_cmd(bin + " tokenize --help");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(has(r.out, "--tokenizer")) << r.out;
  // Torch commands and the full help need the plugin: one line naming the file.
  for (const char* args : {" train --recipe x.yaml", " --help", " bench generate --model m"}) {
    r = test::run_cmd(bin + args);
    EXPECT_EQ(r.status, 1) << args;
    EXPECT_EQ(r.err.rfind("rlvr: error: cannot load the torch commands from " + dir +
                              "/librlvr_torchcli.so: ", 0), 0u) << r.err;
    EXPECT_EQ(count_of(r.err, "\n"), 1u) << r.err;
  }
  // A broken plugin (not a shared library): the same one line.
  std::ofstream(dir + "/librlvr_torchcli.so") << "not an ELF file\n";
  r = test::run_cmd(bin + " info --model m");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("rlvr: error: cannot load the torch commands from " + dir + "/librlvr_torchcli.so: ", 0),
            0u) << r.err;
  EXPECT_EQ(count_of(r.err, "\n"), 1u) << r.err;
}

// A usage error: status 2, nothing on stdout, exactly this one line on stderr.
void expect_usage_error(const std::string& args, const std::string& message) {
  auto r = test::run_cmd(test::rlvr_bin() + " " + args);
  EXPECT_EQ(r.status, 2) << args;
  EXPECT_EQ(r.out, "") << args;
  EXPECT_EQ(r.err, "rlvr: error: " + message + "\n") << args;
}

TEST(CliUsageErrors, UnknownCommandsSuggestTheClosestName) {
  expect_usage_error("trian --set x=1", "unknown command 'trian'; did you mean 'train'?");
  expect_usage_error("bench genrate", "unknown command 'genrate' for 'rlvr bench'; did you mean 'generate'?");
  expect_usage_error("data shwo", "unknown command 'shwo' for 'rlvr data'; did you mean 'show'?");
  // Nothing close: the list of commands.
  expect_usage_error("bench xyz", "unknown command 'xyz' for 'rlvr bench'; the commands are tokenizer, "
                                  "sandbox, generate ('rlvr bench --help' describes them)");
}

TEST(CliUsageErrors, UnknownFlagsSuggestTheClosestName) {
  // Before the missing --tokenizer that the misspelling causes.
  expect_usage_error("tokenize --tokenizr t.json",
                     "unknown flag '--tokenizr' for 'rlvr tokenize'; did you mean '--tokenizer'?");
  expect_usage_error("data synth --seeds=3", "unknown flag '--seeds' for 'rlvr data synth'; did you mean '--seed'?");
  expect_usage_error("data synth --frobnicate",
                     "unknown flag '--frobnicate' for 'rlvr data synth'; 'rlvr data synth --help' lists the flags");
  expect_usage_error("--verbose", "unknown flag '--verbose'; 'rlvr --help' lists the flags");
  // Names are compared without their dashes: -tokenizer is a typo, -s is no typo of -h.
  expect_usage_error("tokenize -tokenizer t.json",
                     "unknown flag '-tokenizer' for 'rlvr tokenize'; did you mean '--tokenizer'?");
  expect_usage_error("data synth -s 3",
                     "unknown flag '-s' for 'rlvr data synth'; 'rlvr data synth --help' lists the flags");
  // A positional given as a flag.
  expect_usage_error("report --run-dir runs/x",
                     "unknown flag '--run-dir' for 'rlvr report'; run_dir takes no flag: rlvr report <run_dir>");
  expect_usage_error("report a b", "unexpected argument 'b' for 'rlvr report'; 'rlvr report --help' shows what it takes");
}

TEST(CliUsageErrors, MissingCommandsAndRequiredArgumentsAreNamed) {
  expect_usage_error("tokenize", "missing --tokenizer for 'rlvr tokenize' (tokenizer.json or a model folder "
                                 "holding one); add it: rlvr tokenize --tokenizer TEXT");
  expect_usage_error("report", "missing run_dir for 'rlvr report' (Run directory); add it: rlvr report <run_dir>");
  expect_usage_error("bench", "missing command for 'rlvr bench'; add one of: tokenizer, sandbox, generate");
  expect_usage_error("data", "missing command for 'rlvr data'; add one of: synth, show");
  auto r = test::run_cmd(test::rlvr_bin());
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err.rfind("rlvr: error: missing command for 'rlvr'; add one of: bench, ", 0), 0u) << r.err;
  EXPECT_TRUE(has(r.err, ", train, ")) << r.err;
  EXPECT_EQ(count_of(r.err, "\n"), 1u) << r.err;
}

TEST(CliUsageErrors, ValuesOfTheWrongTypeAreNamed) {
  expect_usage_error("data synth --n abc",
                     "--n of 'rlvr data synth' takes a whole number, not 'abc'; e.g. --n 100");
  expect_usage_error("data synth --n", "--n of 'rlvr data synth' takes a whole number and none was given; e.g. --n 100");
  // Unsigned values refuse a sign instead of wrapping round to 2^64 - 5.
  expect_usage_error("data synth --seed -5",
                     "--seed of 'rlvr data synth' takes a whole number >= 0, not '-5'; e.g. --seed 0");
  expect_usage_error("tokenize --tokenizer t.json --decode=maybe",
                     "--decode of 'rlvr tokenize' takes true or false, not 'maybe'; give it as --decode");
  // Any other CLI11 error: its text, with the command and where to look.
  expect_usage_error("data synth --n 1 --n 2",
                     "rlvr data synth: --n: At Most 1 required but received 2; see 'rlvr data synth --help'");
}

TEST(CliUsageErrors, HelpShowsEachDefaultOnStdout) {
  auto r = test::run_cmd(test::rlvr_bin() + " eval --help");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  for (const char* opt : {"--dtype TEXT=auto ", "--max-new-tokens INT=256 ", "--shots-seed UINT=42 ",
                          "--max-batch-seqs INT=64 "})
    EXPECT_TRUE(has(r.out, std::string("\n  ") + opt)) << opt << " missing from:\n" << r.out;
  EXPECT_TRUE(has(r.out, "\n  --adapter TEXT ...")) << r.out;  // an empty list shows no default
  EXPECT_FALSE(has(r.out, "{}")) << r.out;
  r = test::run_cmd(test::rlvr_bin() + " bench tokenizer --help");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(has(r.out, "\n  --reps INT=5 ")) << r.out;
}

// init-model and init-tokenizer keep what --out holds unless --force.
TEST(CliFlags, InitCommandsRefuseToOverwriteWithoutForce) {
  const std::string dir = test::scratch_dir("cli_init_force");
  const std::string model = cli_model(dir), config = dir + "/config.json";
  const std::string weights = model + "/model.safetensors";
  const auto size = std::filesystem::file_size(weights);
  expect_error_line("init-model --config " + config + " --out " + model + " --seed 5",
                    "--out " + model + ": already holds config.json; pass --force");
  expect_error_line("init-tokenizer --byte-level --out " + model,
                    "--out " + model + ": already holds tokenizer.json; pass --force");
  EXPECT_EQ(std::filesystem::file_size(weights), size);
  auto r = test::run_cmd(test::rlvr_bin() + " init-model --config " + config + " --out " + model + " --force");
  EXPECT_EQ(r.status, 0) << r.err;
  r = test::run_cmd(test::rlvr_bin() + " init-tokenizer --byte-level --out " + model + " --force");
  EXPECT_EQ(r.status, 0) << r.err;
  for (const char* cmd : {"init-model", "init-tokenizer"}) {
    r = test::run_cmd(test::rlvr_bin() + " " + cmd + " --help");
    EXPECT_TRUE(has(r.out, "--force")) << r.out;
  }
}

// float16 has no CPU kernels: one line with the fix instead of torch's message.
TEST(CliFlags, Float16OnCpuIsOneLine) {
  const std::string model = cli_model(test::scratch_dir("cli_fp16"));
  const std::string fix = "--dtype float16: float16 does not run on CPU; use --dtype bfloat16 or float32";
  expect_error_line("generate --model " + model + " --prompt hi --max-new-tokens 2 --dtype float16", fix);
  expect_error_line("eval --model " + model + " --data " + gsm8k_test() +
                        " --shots 0 --limit 1 --max-new-tokens 2 --dtype float16", fix);
  // bench generate checks through the model layer's resolve_dtype (torch's message before).
  expect_error_line("bench generate --preset gsm8k-8shot-0.5b --dtype float16",
                    "dtype float16: float16 does not run on CPU; use bfloat16 or float32 (or a CUDA device)");
}

// --load-in-4bit (issue 16): info counts the 4-bit codes and their statistics apart from the
// float weights, and they take less room than the same weights unquantized; the 4-bit flags
// need --load-in-4bit, and a code that is not one is a usage error.
TEST(CliFlags, LoadIn4bitInfoAndItsFlags) {
  const std::string model = cli_model(test::scratch_dir("cli_4bit"));
  auto plain = test::run_cmd(test::rlvr_bin() + " info --model " + model);
  auto q = test::run_cmd(test::rlvr_bin() + " info --model " + model + " --load-in-4bit --quant-type fp4");
  ASSERT_EQ(plain.status, 0) << plain.err;
  ASSERT_EQ(q.status, 0) << q.err;
  const auto jp = nlohmann::json::parse(plain.out), jq = nlohmann::json::parse(q.out);
  EXPECT_FALSE(jp["load_in_4bit"].get<bool>());
  EXPECT_TRUE(jq["load_in_4bit"].get<bool>());
  EXPECT_EQ(jq["parameters"], jp["parameters"]);
  const auto& by = jq["weights_mb_by_storage"];
  ASSERT_TRUE(by.contains("4-bit fp4 codes")) << by.dump();
  ASSERT_TRUE(by.contains("4-bit statistics")) << by.dump();
  EXPECT_LT(jq["weights_mb"].get<double>(), jp["weights_mb"].get<double>());
  // 1 layer of q (16x16), k and v (8x16), o (16x16), gate and up (32x16), down (16x32): 2,304
  // weights in 1,152 bytes of codes.
  EXPECT_DOUBLE_EQ(by["4-bit fp4 codes"].get<double>() * 1048576.0, 1152.0);
  expect_usage_error("info --model " + model + " --quant-type fp4", "rlvr info: --quant-type requires --load-in-4bit; see 'rlvr info --help'");
  expect_usage_error("info --model " + model + " --no-double-quant", "rlvr info: --no-double-quant requires --load-in-4bit; see 'rlvr info --help'");
  expect_usage_error("info --model " + model + " --load-in-4bit --quant-type nf5",
                     "rlvr info: --quant-type: nf5 not in {nf4,fp4}; see 'rlvr info --help'");
}

// A worker count that is not one is a usage error (status 2), like any other bad flag value.
TEST(CliUsageErrors, LauncherCountIsAUsageError) {
  for (const char* n : {"0", "-1", "two"})
    expect_usage_error(std::string("eval --model m --data d --nproc-per-node ") + n,
                       std::string("rlvr eval: --nproc-per-node ") + n +
                           ": not a count of worker processes; give a whole number >= 1, e.g. "
                           "--nproc-per-node 2; see 'rlvr eval --help'");
}

// Sampling values outside their range were silently greedy (or unfiltered): one line each.
TEST(CliFlags, SamplingOutOfRangeIsOneLine) {
  const std::string model = cli_model(test::scratch_dir("cli_sampling"));
  const std::string generate = "generate --model " + model + " --prompt hi --max-new-tokens 2 ";
  expect_error_line(generate + "--temperature -1", "--temperature must be >= 0 (0 = greedy), got -1");
  expect_error_line(generate + "--top-p 0", "--top-p must be in (0, 1] (1 = off), got 0");
  expect_error_line(generate + "--top-p 1.5", "--top-p must be in (0, 1] (1 = off), got 1.5");
  expect_error_line(generate + "--top-k -1", "--top-k must be >= 0 (0 = off), got -1");
  const std::string eval = "eval --model " + model + " --data " + gsm8k_test() + " --shots 0 --limit 1 --max-new-tokens 2 ";
  expect_error_line(eval + "--temperature -0.5", "--temperature must be >= 0 (0 = greedy), got -0.5");
  expect_error_line(eval + "--n-samples 2 --temperature -1", "--temperature must be >= 0 (0 = greedy), got -1");
  expect_error_line(eval + "--n-samples 2 --top-p 0", "--top-p must be in (0, 1] (1 = off), got 0");
}

// A negative --limit evaluated every problem; --limit 0 is still "no problems".
TEST(CliFlags, EvalNegativeLimitIsOneLine) {
  const std::string model = cli_model(test::scratch_dir("cli_limit"));
  const std::string eval = "eval --model " + model + " --data " + gsm8k_test() + " --shots 0 --max-new-tokens 1 ";
  for (const char* n : {"-1", "-5"})
    expect_error_line(eval + "--limit " + n, std::string("--limit must be >= 0, got ") + n +
                                                 "; leave it out to evaluate every problem");
  expect_error_line(eval + "--limit 0", "no problems (empty file or --limit 0)");
}

// `rlvr demo` (a torch command) at toy size: the before/after table, then the summary as the last
// line, in JSON, with the same numbers as the table.
TEST(CliDemo, PrintsTheTableAndEndsWithJson) {
  const std::string dir = test::scratch_dir("cli_demo");
  auto r = test::run_cmd(test::rlvr_bin() + " demo --out " + dir +
                         " --seed 3 --train-problems 64 --test-problems 16 --sft-steps 2 --grpo-steps 1"
                         " --grpo-prompts 2 --num-generations 2");
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_FALSE(r.out.empty());
  ASSERT_EQ(r.out.back(), '\n');
  const std::string body = r.out.substr(0, r.out.size() - 1);
  const std::string last = body.substr(body.rfind('\n') + 1);
  auto s = nlohmann::json::parse(last);
  EXPECT_TRUE(has(r.out, "held-out strict accuracy")) << r.out;
  EXPECT_TRUE(has(r.out, "report: " + dir + "/report.html")) << r.out;
  for (const char* when : {"before", "after"})
    for (const char* how : {"sampled", "greedy"}) {
      const auto& a = s.at(when).at(how);
      char cell[64];
      std::snprintf(cell, sizeof(cell), "%.1f%% [%.1f, %.1f]", 100 * a.at("accuracy").get<double>(),
                    100 * a.at("ci95").at(0).get<double>(), 100 * a.at("ci95").at(1).get<double>());
      EXPECT_TRUE(has(r.out, cell)) << when << " " << how << ": " << cell << " not in\n" << r.out;
    }
  EXPECT_GT(s.at("seconds").get<double>(), 0.0);
}

}  // namespace
}  // namespace rlvr
