// Data-parallel training end to end (issue 15 acceptance): real `rlvr train` processes joined on
// 127.0.0.1 with Gloo, started the torchrun way (RANK, WORLD_SIZE, ... in the environment) or by
// `--nproc-per-node`. A tiny LoRA model in float32: world size 2 ends where world size 1 with the
// same global batch ends, with the same completions and metrics; interrupted runs resume; faults
// stop every rank with one line.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <map>
#include <sstream>
#include <string>

#include "rlvr/core/files.h"
#include "rlvr/data/synth.h"
#include "rlvr/io/safetensors.h"
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
        "dtype=float32", "learning_rate=0.05", "max_steps=3", "logging_steps=1", "save_steps=0",
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
  test::RunResult launch(int world, const std::string& args) const {
    const std::string bin = "'" + test::rlvr_bin() + "' ";
    if (world == 1) return test::run_cmd("OMP_NUM_THREADS=1 " + bin + args + "; echo status $?");
    const std::string port = std::to_string(test::free_tcp_port());
    std::string cmd, wait, status = "echo status";
    for (int r = 0; r < world; ++r) {
      const std::string R = std::to_string(r), W = std::to_string(world);
      cmd += "RANK=" + R + " LOCAL_RANK=" + R + " WORLD_SIZE=" + W + " LOCAL_WORLD_SIZE=" + W +
             " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " OMP_NUM_THREADS=1 " + bin + args + " & p" + R + "=$!; ";
      wait += "wait $p" + R + "; s" + R + "=$?; ";
      status += " $s" + R;
    }
    return test::run_cmd(cmd + wait + status);
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
// accumulation 2 (bnpo).
TEST_F(Ddp, TwoRanksEqualOneWithTheSameGlobalBatch) {
  struct Case {
    std::vector<std::string> one, two;
  };
  const std::vector<Case> cases = {
      {{"per_device_train_batch_size=4", "scale_rewards=batch"}, {"per_device_train_batch_size=2", "scale_rewards=batch"}},
      {{"per_device_train_batch_size=2", "gradient_accumulation_steps=2", "loss_type=bnpo"},
       {"per_device_train_batch_size=2", "gradient_accumulation_steps=1", "loss_type=bnpo"}}};
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string a = "one" + std::to_string(i), b = "two" + std::to_string(i);
    auto r1 = launch(1, "train " + recipe(a, cases[i].one));
    ASSERT_TRUE(has(r1.out, "status 0")) << r1.err;
    auto r2 = launch(2, "train " + recipe(b, cases[i].two));
    ASSERT_TRUE(has(r2.out, "status 0 0")) << r2.out << r2.err;
    const double d = max_abs_diff(out(a) + "/adapter_model.safetensors", out(b) + "/adapter_model.safetensors");
    std::printf("case %zu: adapter max |world 2 - world 1| = %.3g\n", i, d);
    EXPECT_LE(d, 1e-6);
    expect_same_run(out(a), out(b), /*same_micro_batches=*/i == 1);
    EXPECT_EQ(jsonl(out(b) + "/metrics.jsonl").size(), 3u);
  }
}

}  // namespace
}  // namespace rlvr
