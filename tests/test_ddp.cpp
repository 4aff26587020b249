// Data-parallel training end to end (issue 15 acceptance): real `rlvr train` processes joined on
// 127.0.0.1 with Gloo, started the torchrun way (RANK, WORLD_SIZE, ... in the environment) or by
// `--nproc-per-node`. A tiny LoRA model in float32: world size 2 ends where world size 1 with the
// same global batch ends, with the same completions and metrics; interrupted runs resume; faults
// stop every rank with one line.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <sstream>
#include <string>

#include "rlvr/core/files.h"
#include "rlvr/data/synth.h"
#include "rlvr/io/safetensors.h"
#include "rlvr/train/policy.h"
#include "rlvr/train/recipe.h"
#include "testlib.h"
#include "tiny_model.h"

namespace rlvr {
namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::map<std::string, torch::Tensor> tensors_of(const std::string& file) {
  auto f = SafetensorsFile::open(file);
  std::map<std::string, torch::Tensor> out;
  for (const auto& e : f.entries()) out[e.name] = f.get(e.name).clone();
  return out;
}

// Largest |a - b| over every tensor of two safetensors files (infinity when names or shapes differ).
double max_abs_diff(const std::string& a, const std::string& b) {
  const auto ta = tensors_of(a), tb = tensors_of(b);
  if (ta.size() != tb.size()) return INFINITY;
  double worst = 0;
  for (const auto& [name, t] : ta) {
    auto it = tb.find(name);
    if (it == tb.end() || it->second.sizes() != t.sizes()) return INFINITY;
    worst = std::max(worst, (t.to(torch::kFloat64) - it->second.to(torch::kFloat64)).abs().max().item<double>());
  }
  return worst;
}

std::vector<nlohmann::json> jsonl(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::istringstream in(read_text_file(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

class Ddp : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir(std::string("ddp_") + testing::UnitTest::GetInstance()->current_test_info()->name());
    model_ = test::tiny_model_dir(dir_ + "/model", 32, 1);
    SynthOptions so;
    so.max_steps = 1;
    write_gsm8k_jsonl(dir_ + "/train.jsonl", synth_problems(64, 1, so, Split::kTrain));
  }
  // A GRPO LoRA recipe file (float32, 3 steps, completions logged); `more` overrides.
  std::string recipe(const std::string& name, const std::vector<std::string>& more) const {
    std::vector<std::string> sets = {
        "model_name_or_path=" + model_, "train_dataset_id_or_path=" + dir_ + "/train.jsonl",
        "output_dir=" + dir_ + "/" + name, "use_peft=true", "lora_r=2", "lora_alpha=4", "lora_dropout=0",
        "dtype=float32", "device=cpu", "learning_rate=0.05", "max_steps=3", "logging_steps=1", "save_steps=0",
        "gradient_checkpointing=false", "seed=5", "num_generations=2", "num_shots=0", "max_completion_length=6",
        "log_completions=true", "reward_funcs=[any_digit]",
        "reward_options={any_digit: {type: regex, pattern: '[0-9]'}}", "ddp_timeout=30"};
    sets.insert(sets.end(), more.begin(), more.end());
    std::vector<std::string> notices;
    const std::string path = dir_ + "/" + name + ".json";
    write_json_file(path, recipe_to_json(load_grpo_recipe("", sets, 1, &notices)));  // JSON is YAML
    return path;
  }
  std::string out(const std::string& name) const { return dir_ + "/" + name; }

  // `rlvr ARGS` as `world` ranks started the torchrun way, one thread each; prints "status S0 S1 ..".
  test::RunResult launch(int world, const std::string& args, const std::string& meanwhile = "") const {
    return launch_each(std::vector<std::string>(world, args), meanwhile);
  }
  // Rank r runs `rlvr args[r]` (pid in $p<r>); `meanwhile` runs in the shell before the waits,
  // `after` after them.
  test::RunResult launch_each(const std::vector<std::string>& args, const std::string& meanwhile = "",
                              const std::string& after = "") const {
    const std::string bin = "'" + test::rlvr_bin() + "' ";
    const int world = static_cast<int>(args.size());
    if (world == 1) return test::run_cmd("OMP_NUM_THREADS=1 " + bin + args[0] + "; echo status $?");
    const std::string port = std::to_string(rlvr::free_tcp_port()), W = std::to_string(world);
    std::string cmd, wait, status = "echo status";
    for (int r = 0; r < world; ++r) {
      const std::string R = std::to_string(r);
      cmd += "RANK=" + R + " LOCAL_RANK=" + R + " WORLD_SIZE=" + W + " LOCAL_WORLD_SIZE=" + W +
             " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " OMP_NUM_THREADS=1 " + bin + args[r] + " & p" + R +
             "=$!; ";
      wait += "wait $p" + R + "; s" + R + "=$?; ";
      status += " $s" + R;
    }
    return test::run_cmd(cmd + (meanwhile.empty() ? "" : meanwhile + "; ") + wait + status + "; " + after + ":");
  }
  // Shell: wait (up to 60 s) until run `name` has logged a step.
  std::string until_a_step(const std::string& name) const {
    return "for i in $(seq 1200); do [ -s '" + out(name) + "/metrics.jsonl' ] && break; sleep 0.05; done";
  }

  // Same completions every step and the same metrics (timings aside) in two run folders. With
  // other micro-batch sizes train/forward_tokens differs too: it counts the padded tokens the
  // forward passes computed, a cost like the timings, not a result.
  void expect_same_run(const std::string& a, const std::string& b, bool same_micro_batches) const {
    EXPECT_EQ(read_text_file(a + "/completions.jsonl"), read_text_file(b + "/completions.jsonl"));
    const auto ma = jsonl(a + "/metrics.jsonl"), mb = jsonl(b + "/metrics.jsonl");
    ASSERT_EQ(ma.size(), mb.size());
    for (size_t i = 0; i < ma.size(); ++i)
      for (const auto& [k, v] : ma[i].items()) {
        if (k.rfind("time/", 0) == 0 || k.rfind("throughput/", 0) == 0) continue;
        if (k == "train/forward_tokens" && !same_micro_batches) continue;
        ASSERT_TRUE(mb[i].contains(k)) << k;
        if (v.is_number())
          EXPECT_NEAR(v.get<double>(), mb[i][k].get<double>(), 1e-6 * std::max(1.0, std::abs(v.get<double>())))
              << "step " << i + 1 << " " << k;
        else
          EXPECT_EQ(v, mb[i][k]) << k;
      }
  }

  std::string dir_, model_;
};

// 1. World size 2 equals world size 1 with the same global batch: (a) 2 x mb 2 against 1 x mb 4
// (dapo, rewards scaled over the whole batch), (b) 2 ranks x accumulation 1 against 1 rank x
// accumulation 2 (bnpo), (c) full fine-tuning, 2 ranks x accumulation 1 against 1 rank x
// accumulation 2 (ZeRO-1 on 2 ranks: AdamW moments sharded, clipping by the global norm).
TEST_F(Ddp, TwoRanksEqualOneWithTheSameGlobalBatch) {
  struct Case {
    std::vector<std::string> one, two;
    std::string weights = "adapter_model.safetensors";
  };
  const std::vector<Case> cases = {
      {{"per_device_train_batch_size=4", "scale_rewards=batch"}, {"per_device_train_batch_size=2", "scale_rewards=batch"}},
      {{"per_device_train_batch_size=2", "gradient_accumulation_steps=2", "loss_type=bnpo"},
       {"per_device_train_batch_size=2", "gradient_accumulation_steps=1", "loss_type=bnpo"}},
      {{"per_device_train_batch_size=2", "gradient_accumulation_steps=2", "use_peft=false", "learning_rate=0.002"},
       {"per_device_train_batch_size=2", "use_peft=false", "learning_rate=0.002"},
       "model.safetensors"}};
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string a = "one" + std::to_string(i), b = "two" + std::to_string(i);
    auto r1 = launch(1, "train " + recipe(a, cases[i].one));
    ASSERT_TRUE(has(r1.out, "status 0")) << r1.err;
    auto r2 = launch(2, "train " + recipe(b, cases[i].two));
    ASSERT_TRUE(has(r2.out, "status 0 0")) << r2.out << r2.err;
    const double d = max_abs_diff(out(a) + "/" + cases[i].weights, out(b) + "/" + cases[i].weights);
    std::printf("case %zu: %s max |world 2 - world 1| = %.3g\n", i, cases[i].weights.c_str(), d);
    EXPECT_LE(d, 1e-6);
    expect_same_run(out(a), out(b), /*same_micro_batches=*/i > 0);
    if (i == 2) EXPECT_TRUE(has(r2.err, "zero-1: optimizer state")) << r2.err;
    EXPECT_EQ(jsonl(out(b) + "/metrics.jsonl").size(), 3u);
  }
}

// SFT with the same global batch: 2 ranks x 2 sequences against 1 rank x 4.
TEST_F(Ddp, SftTwoRanksEqualOne) {
  auto sft = [&](const std::string& name, const std::string& mb) {
    std::vector<std::string> sets = {
        "model_name_or_path=" + model_, "train_dataset_id_or_path=" + dir_ + "/train.jsonl",
        "output_dir=" + out(name), "use_peft=true", "lora_r=2", "lora_alpha=4", "lora_dropout=0", "dtype=float32",
        "device=cpu", "learning_rate=0.01", "max_steps=3", "logging_steps=1", "save_steps=0", "max_seq_length=96",
        "seed=5",
        "per_device_train_batch_size=" + mb};
    std::vector<std::string> notices;
    write_json_file(dir_ + "/" + name + ".json", recipe_to_json(load_sft_recipe("", sets, 1, &notices)));
    return "sft " + dir_ + "/" + name + ".json";
  };
  auto r = launch(1, sft("one", "4"));
  ASSERT_TRUE(has(r.out, "status 0")) << r.err;
  r = launch(2, sft("two", "2"));
  ASSERT_TRUE(has(r.out, "status 0 0")) << r.out << r.err;
  const double d = max_abs_diff(out("one") + "/adapter_model.safetensors", out("two") + "/adapter_model.safetensors");
  std::printf("sft: adapter max |world 2 - world 1| = %.3g\n", d);
  EXPECT_LE(d, 1e-6);
  const auto a = jsonl(out("one") + "/metrics.jsonl"), b = jsonl(out("two") + "/metrics.jsonl");
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (size_t i = 0; i < a.size(); ++i)
    for (const char* k : {"loss", "grad_norm", "token_accuracy_p50", "num_tokens"})
      EXPECT_NEAR(a[i][k].get<double>(), b[i][k].get<double>(), 1e-6 * std::max(1.0, a[i][k].get<double>())) << k;
}

// 2. Resume: a 2-rank run interrupted by SIGINT to rank 1 alone (both ranks checkpoint the same
// step and exit 130) and resumed with 2 ranks ends with the same adapter bytes as an
// uninterrupted 2-rank run; the same checkpoint resumed by 1 rank with accumulation doubled ends
// within 1e-6. Constant learning rate, so max_steps only says where the runs end.
TEST_F(Ddp, InterruptedRunResumesWithTwoRanksOrOne) {
  const std::vector<std::string> base = {"per_device_train_batch_size=2", "lr_scheduler_type=constant",
                                         "max_completion_length=24"};
  auto with = [&](std::vector<std::string> v, const std::string& extra) {
    v.push_back(extra);
    return v;
  };
  auto r = launch(2, "train " + recipe("part", with(base, "max_steps=100000")), until_a_step("part") + "; kill -INT $p1");
  ASSERT_TRUE(has(r.out, "status 130 130")) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "interrupted at step ")) << r.err;
  const auto cks = checkpoints_newest_first(out("part"));
  ASSERT_EQ(cks.size(), 1u);
  const int64_t k = read_json_file(cks[0] + "/trainer_state.json").at("global_step").get<int64_t>();
  EXPECT_EQ(read_json_file(cks[0] + "/trainer_state.json").at("world_size"), 2);
  const std::string end = "max_steps=" + std::to_string(k + 2);
  ASSERT_EQ(test::run_cmd("cp -r '" + out("part") + "' '" + out("part1") + "'").status, 0);
  recipe("part1", with(base, "max_steps=100000"));  // the copy's recipe file

  r = launch(2, "train " + dir_ + "/part.json --resume --set " + end);
  ASSERT_TRUE(has(r.out, "status 0 0")) << r.out << r.err;
  r = launch(2, "train " + recipe("full", with(base, end)));
  ASSERT_TRUE(has(r.out, "status 0 0")) << r.out << r.err;
  EXPECT_EQ(read_text_file(out("part") + "/adapter_model.safetensors"),
            read_text_file(out("full") + "/adapter_model.safetensors"));

  r = launch(1, "train " + dir_ + "/part1.json --resume --set " + end + " --set gradient_accumulation_steps=2");
  ASSERT_TRUE(has(r.out, "status 0")) << r.out << r.err;
  const double d = max_abs_diff(out("part1") + "/adapter_model.safetensors", out("full") + "/adapter_model.safetensors");
  std::printf("resumed at step %lld by 1 rank x accumulation 2: adapter max |diff| = %.3g\n", (long long)k, d);
  EXPECT_LE(d, 1e-6);
  // Another global batch is refused with one line.
  r = launch(1, "train " + dir_ + "/part1.json --resume --set max_steps=100");
  EXPECT_TRUE(has(r.err, "global batch of 4")) << r.err;
}

// The built-in launcher: SIGINT to it reaches every worker once; all checkpoint the same step and
// the launcher exits 130.
TEST_F(Ddp, TheLauncherForwardsSigintToEveryRank) {
  const std::string path = recipe("run", {"max_steps=100000", "per_device_train_batch_size=2", "max_completion_length=24"});
  const auto r = test::run_cmd("'" + test::rlvr_bin() + "' train " + path + " --nproc-per-node 2 & p=$!; " +
                               until_a_step("run") + "; kill -INT $p; wait $p; echo status $?");
  EXPECT_TRUE(has(r.out, "status 130")) << r.out << r.err;
  EXPECT_EQ(checkpoints_newest_first(out("run")).size(), 1u) << r.err;
  EXPECT_TRUE(has(r.err, "interrupted at step ")) << r.err;
}

// 3a. kill -9 of one rank mid-run: the other stops within ddp_timeout + 10 s, naming the lost
// rank, and writes no checkpoint.
TEST_F(Ddp, AKilledRankStopsTheOther) {
  const std::string path = recipe("run", {"max_steps=100000", "ddp_timeout=5", "save_steps=0"});
  const auto r = launch_each({"train " + path, "train " + path}, until_a_step("run") + "; kill -9 $p1; t0=$(date +%s.%N)",
                             "echo elapsed $(awk \"BEGIN{print $(date +%s.%N) - $t0}\")");
  EXPECT_TRUE(has(r.out, "status 1 137")) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "lost rank 1")) << r.err;
  const double elapsed = std::stod(r.out.substr(r.out.find("elapsed ") + 8));
  std::printf("rank 0 stopped %.1f s after rank 1 was killed (ddp_timeout 5)\n", elapsed);
  EXPECT_LE(elapsed, 15.0);
  EXPECT_TRUE(checkpoints_newest_first(out("run")).empty());
}

// 3b. Ranks started with different recipes or builds are refused before any step.
TEST_F(Ddp, AMismatchedRecipeIsRefusedBeforeAnyStep) {
  const std::string path = recipe("run", {"per_device_train_batch_size=2"});
  const auto r = launch_each({"train " + path, "train " + path + " --set learning_rate=0.1"});
  EXPECT_TRUE(has(r.out, "status 1 1")) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "rank 1 was started with a different recipe")) << r.err;
  EXPECT_FALSE(file_exists(out("run") + "/metrics.jsonl"));
  // Another build: a copy of the binary and its plugin, the binary one byte longer (still runs).
  const std::string other = dir_ + "/other-build";
  const std::string bin_dir = test::rlvr_bin().substr(0, test::rlvr_bin().rfind('/'));
  ASSERT_EQ(test::run_cmd("mkdir -p '" + other + "' && cp '" + test::rlvr_bin() + "' '" + bin_dir +
                          "/librlvr_torchcli.so' '" + other + "/' && printf x >> '" + other + "/rlvr'").status, 0);
  const std::string port = std::to_string(rlvr::free_tcp_port());
  auto rank = [&](int k, const std::string& bin) {
    return "RANK=" + std::to_string(k) + " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " '" + bin +
           "' train " + path;
  };
  const auto b = test::run_cmd(rank(0, test::rlvr_bin()) + " & p=$!; " + rank(1, other + "/rlvr") +
                               "; s1=$?; wait $p; echo status $? $s1");
  EXPECT_TRUE(has(b.out, "status 1 1")) << b.out << b.err;
  EXPECT_TRUE(has(b.err, "rank 1 was started with a different rlvr binary")) << b.err;
}

// 3c. An unreachable master is one line within ddp_timeout.
TEST_F(Ddp, AnUnreachableMasterIsOneLine) {
  const std::string port = std::to_string(rlvr::free_tcp_port());
  const auto r = test::run_cmd("RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " '" +
                               test::rlvr_bin() + "' train " + recipe("run", {"ddp_timeout=2"}) + "; echo status $?");
  EXPECT_TRUE(has(r.out, "status 1")) << r.out;
  EXPECT_TRUE(has(r.err, "could not reach the master at 127.0.0.1:" + port + " within 2 s")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace rlvr
