// Run directories that never lose work (docs/recipe.md, "The run directory"): a run already in
// output_dir, an output_dir in the model, two runs at once, the recipe record, unreadable
// checkpoints, changed recipes on resume, non-finite steps, interrupts (also through the CLI); and
// the model directory `rlvr merge` writes from a base and a run's adapter.
// Tiny models on CPU; each test takes a few seconds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <functional>
#include <set>
#include <sstream>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/core/interrupt.h"
#include "rlvr/data/synth.h"
#include "rlvr/io/safetensors.h"
#include "rlvr/train/grpo_trainer.h"
#include "rlvr/train/run_loop.h"
#include "rlvr/train/sft_trainer.h"
#include "testlib.h"
#include "tiny_model.h"

using namespace rlvr;

namespace {

// Runs `f`, expecting an rlvr::Error; returns its message ("" and a failure when none came).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected an rlvr::Error";
  return "";
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The trained tensors of a run folder or checkpoint, by name.
std::map<std::string, torch::Tensor> adapter_of(const std::string& dir) {
  auto f = SafetensorsFile::open(dir + "/adapter_model.safetensors");
  std::map<std::string, torch::Tensor> out;
  for (const auto& e : f.entries()) out[e.name] = f.get(e.name).clone();
  return out;
}

class RunDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir(std::string("run_dir_") + testing::UnitTest::GetInstance()->current_test_info()->name());
    model_ = test::tiny_model_dir(dir_ + "/model", 32, 1);
    SynthOptions so;
    so.max_steps = 1;
    write_gsm8k_jsonl(dir_ + "/train.jsonl", synth_problems(64, 1, so, Split::kTrain));
    out_ = dir_ + "/out";
  }
  std::vector<std::string> base_sets() const {
    return {"model_name_or_path=" + model_, "train_dataset_id_or_path=" + dir_ + "/train.jsonl", "output_dir=" + out_,
            "use_peft=true", "lora_r=2", "lora_alpha=4", "lora_dropout=0", "dtype=float32", "learning_rate=0.01",
            "max_steps=3", "per_device_train_batch_size=4", "logging_steps=1", "save_steps=1",
            "gradient_checkpointing=false", "seed=5"};
  }
  // An SFT recipe of three LoRA steps, checkpointed every step; `more` overrides.
  SftRecipe sft(const std::vector<std::string>& more = {}) const {
    auto sets = base_sets();
    sets.push_back("max_seq_length=96");
    sets.insert(sets.end(), more.begin(), more.end());
    std::vector<std::string> notices;
    return load_sft_recipe("", sets, 1, &notices);
  }
  GrpoRecipe grpo(const std::vector<std::string>& more = {}) const {
    auto sets = base_sets();
    for (const char* s : {"num_generations=2", "num_shots=0", "max_completion_length=4", "reward_funcs=[any_digit]",
                          "reward_options={any_digit: {type: regex, pattern: '[0-9]'}}"})
      sets.push_back(s);
    sets.insert(sets.end(), more.begin(), more.end());
    std::vector<std::string> notices;
    return load_grpo_recipe("", sets, 1, &notices);
  }
  std::string dir_, model_, out_;
};

// A job whose steps are scripted: `bad` steps (1-based) are non-finite, the others move every
// trainable weight; checkpoints only after multiples of `every`.
class ScriptedJob : public TrainingJob {
 public:
  explicit ScriptedJob(const SftRecipe& r, int64_t total)
      : policy_(load_policy(r)), opt_(make_optimizer(policy_, r)), total_(total) {}
  int64_t total_steps() const override { return total_; }
  double steps_per_epoch() const override { return 4; }
  int64_t global_batch() const override { return 4; }
  StepReport step(int64_t s) override {
    const int64_t global = s + 1;
    if (on_step) on_step(global);
    StepReport rep;
    rep.nonfinite = bad.count(global) > 0;
    rep.metrics = {{"loss", rep.nonfinite ? std::nan("") : 1.0 / global}};
    rep.batch = {{{"prompt", "p" + std::to_string(global)}, {"completion", "c"}}};
    if (!rep.nonfinite) {
      for (auto& [name, t] : policy_.model->trainable_parameters()) t.mutable_grad() = torch::ones_like(t);
      opt_->step();
    }
    opt_->zero_grad();
    ++position_;
    return rep;
  }
  bool can_checkpoint_after(int64_t global) const override { return global % every == 0; }
  nlohmann::json state() const override { return {{"position", position_}}; }
  void restore(const nlohmann::json& st) override { position_ = st.at("position").get<int64_t>(); }
  Policy& policy() override { return policy_; }
  torch::optim::Optimizer& optimizer() override { return *opt_; }

  std::set<int64_t> bad;
  int64_t every = 1;
  std::function<void(int64_t)> on_step;

 private:
  Policy policy_;
  std::unique_ptr<torch::optim::Optimizer> opt_;
  int64_t total_, position_ = 0;
};

}  // namespace

// a. A run already in output_dir is refused without --resume (nothing touched); with
// overwrite_output_dir its run files are deleted first and other files stay.
TEST_F(RunDir, RunInOutputDirIsRefusedOrOverwritten) {
  SftTrainer(sft()).train(false);
  const std::string metrics = read_text_file(out_ + "/metrics.jsonl");
  const std::string msg = error_of([&] { SftTrainer(sft()).train(false); });
  EXPECT_TRUE(has(msg, "already holds a run") && has(msg, "--resume") && has(msg, "overwrite_output_dir: true")) << msg;
  EXPECT_EQ(read_text_file(out_ + "/metrics.jsonl"), metrics);
  write_text_file(out_ + "/notes.txt", "mine");
  SftTrainer(sft({"overwrite_output_dir=true", "save_steps=0", "max_steps=2"})).train(false);
  EXPECT_FALSE(file_exists(out_ + "/checkpoint-1")) << "the old run's checkpoints are gone";
  EXPECT_EQ(read_jsonl_file(out_ + "/metrics.jsonl").size(), 2u);
  EXPECT_EQ(read_text_file(out_ + "/notes.txt"), "mine");
  EXPECT_EQ(read_json_file(out_ + "/recipe.json").at("overwrite_output_dir"), false) << "recorded as the run, "
                                                                                          "not the action";
  EXPECT_TRUE(has(error_of([&] { SftTrainer(sft({"overwrite_output_dir=true"})).train(true); }), "contradict"));
}

// b. output_dir equal to or inside the model directory (also through a symbolic link) is refused
// before anything is written.
TEST_F(RunDir, OutputDirInsideTheModelIsRefused) {
  const std::string config = read_text_file(model_ + "/config.json");
  ASSERT_EQ(::symlink(model_.c_str(), (dir_ + "/link").c_str()), 0);
  for (const std::string& out : {model_, model_ + "/", model_ + "/run", dir_ + "/link/run", dir_ + "/x/../model"}) {
    const std::string msg = error_of([&] { SftTrainer(sft({"output_dir=" + out, "use_peft=false"})).train(false); });
    EXPECT_TRUE(has(msg, "model directory") && has(msg, "choose another output_dir")) << out << ": " << msg;
  }
  EXPECT_EQ(read_text_file(model_ + "/config.json"), config);
  EXPECT_FALSE(file_exists(model_ + "/run"));
  EXPECT_FALSE(file_exists(model_ + "/metrics.jsonl"));
  SftTrainer(sft({"output_dir=" + dir_ + "/model-run", "max_steps=1"})).train(false);  // a sibling is fine
}

// c. A live process's lock refuses a second run; a dead process's lock is taken over.
TEST_F(RunDir, LockRefusesASecondRunAndTakesOverAStaleOne) {
  make_dirs(out_);
  write_text_file(out_ + "/run.lock", std::to_string(::getpid()) + "\n");
  const std::string msg = error_of([&] { SftTrainer(sft()).train(false); });
  EXPECT_TRUE(has(msg, "in use by another run (process " + std::to_string(::getpid()))) << msg;
  EXPECT_FALSE(file_exists(out_ + "/metrics.jsonl"));
  const std::string dead = test::run_cmd("sh -c 'echo $$'").out;  // a shell that has exited
  write_text_file(out_ + "/run.lock", dead);
  testing::internal::CaptureStderr();
  SftTrainer(sft()).train(false);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(has(err, "taking over the lock of process " + dead.substr(0, dead.size() - 1))) << err;
  EXPECT_EQ(read_jsonl_file(out_ + "/metrics.jsonl").size(), 3u);
  EXPECT_FALSE(file_exists(out_ + "/run.lock")) << "released at the end";
}

// d. A full-weight run keeps the model's config.json for the model; recipe.json is the run's
// record and reads back as an equal recipe (SFT and GRPO).
TEST_F(RunDir, RecipeRecordReadsBackAndModelConfigStays) {
  const SftRecipe s = sft({"use_peft=false", "max_steps=1", "save_steps=0"});
  SftTrainer(s).train(false);
  EXPECT_NO_THROW(load_model(out_, torch::kFloat32, torch::kCPU));
  EXPECT_EQ(read_json_file(out_ + "/config.json").at("hidden_size"), 32);
  std::vector<std::string> notices;
  EXPECT_EQ(recipe_to_json(load_sft_recipe(out_ + "/recipe.json", {}, 1, &notices)), recipe_to_json(s));
  const GrpoRecipe g = grpo({"use_peft=false", "max_steps=1", "save_steps=0", "output_dir=" + dir_ + "/grpo"});
  GrpoTrainer(g).train(false);
  EXPECT_EQ(read_json_file(dir_ + "/grpo/config.json").at("hidden_size"), 32);
  EXPECT_EQ(recipe_to_json(load_grpo_recipe(dir_ + "/grpo/recipe.json", {}, 1, &notices)), recipe_to_json(g));
  EXPECT_TRUE(notices.empty());
}

// e. --resume warns about each unreadable checkpoint (naming the file) and continues from the
// newest complete one, exactly as the uninterrupted run; a failed load changes nothing.
TEST_F(RunDir, ResumeFallsBackPastUnreadableCheckpoints) {
  SftTrainer(sft({"max_steps=4", "output_dir=" + dir_ + "/whole"})).train(false);
  SftTrainer(sft()).train(false);
  const std::string opt3 = out_ + "/checkpoint-3/optimizer.pt";
  const std::string bytes = read_text_file(opt3);
  write_text_file(opt3, bytes.substr(0, bytes.size() / 2));
  remove_tree(out_ + "/checkpoint-2/adapter_model.safetensors");
  {  // load_checkpoint is all or nothing: the truncated optimizer leaves the policy as it was
    SftTrainer fresh(sft());
    std::vector<torch::Tensor> before;
    for (auto& [name, t] : fresh.policy().model->adapter_state()) before.push_back(t.clone());
    const std::string msg = error_of([&] { load_checkpoint(out_ + "/checkpoint-3", fresh.policy(), fresh.optimizer()); });
    EXPECT_TRUE(has(msg, opt3)) << msg;
    const auto after = fresh.policy().model->adapter_state();
    for (size_t i = 0; i < after.size(); ++i) EXPECT_TRUE(after[i].second.equal(before[i])) << after[i].first;
    EXPECT_TRUE(fresh.optimizer().state().empty());
  }
  testing::internal::CaptureStderr();
  SftTrainer resumed(sft({"max_steps=4"}));
  const auto res = resumed.train(true);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(has(err, "warning: " + opt3 + ": unreadable")) << err;
  EXPECT_TRUE(has(err, "checkpoint-2/adapter_model.safetensors")) << err;
  EXPECT_TRUE(has(err, "resumed from " + out_ + "/checkpoint-1 (step 1)")) << err;
  EXPECT_EQ(res.steps_done, 4);
  const auto whole = adapter_of(dir_ + "/whole"), got = adapter_of(out_);
  for (const auto& [name, t] : whole) EXPECT_LE((t - got.at(name)).abs().max().item<double>(), 1e-6) << name;
}

// f. --resume prints each changed key, refuses math changes unless --set names them, and
// refuses a max_steps below the checkpoint; a refusal rewrites nothing.
TEST_F(RunDir, ResumeChecksTheRecipe) {
  SftTrainer(sft()).train(false);
  const std::string metrics = read_text_file(out_ + "/metrics.jsonl"), record = read_text_file(out_ + "/recipe.json");
  testing::internal::CaptureStderr();
  std::string msg = error_of([&] { SftTrainer(sft({"learning_rate=0.02", "seed=6", "max_steps=5"})).train(true); });
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(has(msg, "learning_rate, seed") && has(msg, "--set")) << msg;
  EXPECT_TRUE(has(err, "resume: learning_rate changed: 0.01 -> 0.02 (changes the run's math)\n")) << err;
  EXPECT_TRUE(has(err, "resume: max_steps changed: 3 -> 5\n")) << err;
  msg = error_of([&] { SftTrainer(sft({"max_steps=2"})).train(true); });
  EXPECT_TRUE(has(msg, "is at step 3 but this run ends at step 2") && has(msg, "raise max_steps")) << msg;
  EXPECT_EQ(read_text_file(out_ + "/metrics.jsonl"), metrics);
  EXPECT_EQ(read_text_file(out_ + "/recipe.json"), record);
  SftTrainer t(sft({"learning_rate=0.02", "max_steps=4", "logging_steps=2"}));
  RunOptions o = t.run_options();
  o.resume = true;
  o.set_keys = {"learning_rate"};
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_training(t, o).steps_done, 4);
  err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(has(err, "resume: logging_steps changed: 1 -> 2\n")) << err;
  EXPECT_EQ(read_json_file(out_ + "/recipe.json").at("learning_rate"), 0.02);
}

// g. The run loop: non-finite steps are counted, their batches written, no checkpoint is taken
// during a streak, and the third in a row stops the run with the last good checkpoint intact.
TEST_F(RunDir, NonFiniteStepsAreCountedAndThreeInARowStop) {
  const SftRecipe r = sft();
  ScriptedJob job(r, 8);
  job.bad = {3, 5, 6, 7};
  RunOptions o = run_options(r, recipe_to_json(r));
  o.save_steps = 2;
  const std::string msg = error_of([&] { run_training(job, o); });
  EXPECT_TRUE(has(msg, "stopped at step 7: 3 steps in a row") && has(msg, out_ + "/checkpoint-4")) << msg;
  const auto rows = read_jsonl_file(out_ + "/metrics.jsonl");
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[2]["train/nonfinite_steps"], 1);
  EXPECT_TRUE(rows[6]["loss"].is_null());
  EXPECT_EQ(rows[6]["train/nonfinite_steps"], 4);
  for (int s : {3, 5, 6, 7}) {
    const auto batch = read_jsonl_file(out_ + "/nonfinite-" + std::to_string(s) + ".jsonl");
    ASSERT_EQ(batch.size(), 1u);
    EXPECT_EQ(batch[0]["step"], s);
    EXPECT_EQ(batch[0]["prompt"], "p" + std::to_string(s));
  }
  EXPECT_FALSE(file_exists(out_ + "/nonfinite-4.jsonl"));
  EXPECT_FALSE(file_exists(out_ + "/checkpoint-6")) << "no checkpoint during a streak";
  ScriptedJob fresh(r, 8);
  const auto st = load_checkpoint(out_ + "/checkpoint-4", fresh.policy(), fresh.optimizer());
  EXPECT_EQ(st["global_step"], 4);
  EXPECT_EQ(st["nonfinite_steps"], 1);
  auto now = job.policy().model->adapter_state(), saved = fresh.policy().model->adapter_state();
  for (size_t i = 0; i < now.size(); ++i) EXPECT_TRUE(now[i].second.equal(saved[i].second)) << "skipped steps moved "
                                                                                            << now[i].first;
}

// g. The trainers skip the optimizer step on a non-finite loss (here: a NaN weight), and no
// adapter with NaN or inf is ever saved.
TEST_F(RunDir, TrainersSkipNonFiniteStepsAndNeverSaveThem) {
  SftTrainer t(sft({"save_steps=0", "max_steps=10"}));
  auto params = t.policy().model->trainable_parameters();
  {
    torch::NoGradGuard ng;
    params[0].second.view(-1)[0] = std::nan("");
  }
  const auto before = params[1].second.clone();
  EXPECT_TRUE(has(error_of([&] { t.train(false); }), "3 steps in a row"));
  EXPECT_TRUE(params[1].second.equal(before)) << "no optimizer step ran";
  EXPECT_TRUE(t.optimizer().state().empty());
  const auto rows = read_jsonl_file(out_ + "/metrics.jsonl");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2]["train/nonfinite_steps"], 3);
  EXPECT_EQ(read_jsonl_file(out_ + "/nonfinite-1.jsonl").size(), 4u) << "the step's examples";
  EXPECT_TRUE(has(error_of([&] { save_final(dir_ + "/saved", t.policy()); }), "holds NaN or inf"));
  EXPECT_FALSE(file_exists(dir_ + "/saved/adapter_model.safetensors"));
  // GRPO: the same weight makes every loss NaN; the optimizer never steps.
  GrpoTrainer g(grpo({"save_steps=0", "max_steps=10", "output_dir=" + dir_ + "/grpo"}));
  {
    torch::NoGradGuard ng;
    g.policy().model->trainable_parameters()[0].second.view(-1)[0] = std::nan("");
  }
  EXPECT_TRUE(has(error_of([&] { g.train(false); }), "3 steps in a row"));
  EXPECT_TRUE(g.optimizer().state().empty());
  EXPECT_EQ(read_jsonl_file(dir_ + "/grpo/nonfinite-3.jsonl").size(), 4u) << "the step's completions";
}

// h. An interrupt finishes the step, waits for a step the job can checkpoint after, saves and
// returns interrupted.
TEST_F(RunDir, InterruptCheckpointsAtTheNextPossibleStep) {
  const SftRecipe r = sft();
  ScriptedJob job(r, 8);
  job.every = 2;
  job.on_step = [](int64_t global) {
    if (global == 3) std::raise(SIGINT);
  };
  install_interrupt_handler();
  RunOptions o = run_options(r, recipe_to_json(r));
  o.save_steps = 0;
  o.command = "rlvr sft r.yaml";
  testing::internal::CaptureStderr();
  const auto res = run_training(job, o);
  const std::string err = testing::internal::GetCapturedStderr();
  clear_interrupt();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  EXPECT_TRUE(res.interrupted);
  EXPECT_EQ(res.steps_done, 4);
  EXPECT_TRUE(file_exists(out_ + "/checkpoint-4/trainer_state.json"));
  EXPECT_TRUE(has(err, "interrupted at step 4 (" + out_ + "/checkpoint-4 saved); continue with: rlvr sft r.yaml "
                       "--resume\n")) << err;
  EXPECT_FALSE(file_exists(out_ + "/adapter_model.safetensors")) << "an interrupted run saves no final weights";
}

// h. Through the CLI: SIGINT (sft) exits 130 and SIGTERM (train, num_iterations 2) exits 143,
// each after writing its checkpoint and printing the resume hint.
TEST_F(RunDir, InterruptedCliRunExitsWithTheSignal) {
  auto interrupt = [&](const std::string& command, const nlohmann::json& recipe, const char* sig) {
    const std::string path = dir_ + "/" + command + ".json", out = recipe.at("output_dir");
    write_json_file(path, recipe);  // JSON is YAML: a recipe file
    return test::run_cmd("'" + test::rlvr_bin() + "' " + command + " '" + path + "' & pid=$!; " +
                         "for i in $(seq 1200); do [ -s '" + out + "/metrics.jsonl' ] && break; sleep 0.05; done; " +
                         "kill -" + sig + " $pid; wait $pid; echo \"status $?\"");
  };
  auto res = interrupt("sft", recipe_to_json(sft({"max_steps=100000", "save_steps=0"})), "INT");
  EXPECT_TRUE(has(res.out, "\"interrupted\":true") && has(res.out, "status 130")) << res.out << res.err;
  EXPECT_TRUE(has(res.err, "saved); continue with: rlvr sft " + dir_ + "/sft.json --resume\n")) << res.err;
  EXPECT_EQ(checkpoints_newest_first(out_).size(), 1u);
  res = interrupt("train", recipe_to_json(grpo({"max_steps=100000", "save_steps=0", "num_iterations=2",
                                                "output_dir=" + dir_ + "/grpo"})), "TERM");
  EXPECT_TRUE(has(res.out, "status 143")) << res.out << res.err;
  EXPECT_TRUE(has(res.err, "continue with: rlvr train " + dir_ + "/train.json --resume\n")) << res.err;
  const auto cks = checkpoints_newest_first(dir_ + "/grpo");
  ASSERT_EQ(cks.size(), 1u);
  const int64_t step = read_json_file(cks[0] + "/trainer_state.json").at("global_step").get<int64_t>();
  EXPECT_EQ(step % 2, 0) << "checkpoints only at the end of a generation batch's iterations";
}

// i. rlvr merge (issue 16, acceptance 6): an adapter that changes the output, merged in float32,
// generates greedily the same ids as the base with --adapter; the merged directory holds no LoRA
// tensors, the base's tokenizer files and config.json with the stored dtype; bad input is one line
// and writes nothing.
namespace {

// Greedy completion ids of `rlvr generate` over `prompts`, one list per prompt.
std::vector<std::vector<int64_t>> greedy_ids(const std::string& model, const std::string& prompts,
                                             const std::string& more = "") {
  auto r = test::run_cmd(test::rlvr_bin() + " generate --model " + model + " --prompts-file " + prompts +
                         " --temperature 0 --seed 3 --max-new-tokens 12 " + more);
  EXPECT_EQ(r.status, 0) << r.err;
  std::vector<std::vector<int64_t>> ids;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    ids.push_back(nlohmann::json::parse(line).at("completion_ids").get<std::vector<int64_t>>());
  return ids;
}

// A LoRA adapter of `model` (r 4, alpha 8) whose lora_B is not zero, so merging it changes the output.
std::string random_adapter(const std::string& model, const std::string& dir) {
  CausalLM m = load_model(model, torch::kFloat32, torch::kCPU);
  LoraConfig lora;
  lora.r = 4;
  lora.alpha = 8;
  m->add_lora(lora, 11);
  torch::NoGradGuard ng;
  auto gen = at::detail::createCPUGenerator(12);
  for (auto& [name, t] : m->adapter_state())
    if (has(name, "lora_B")) t.normal_(0.0, 0.5, gen);
  save_adapter(m, dir, model);
  return dir;
}

// `rlvr merge args`: a failure with one line on stderr that holds `what`.
void expect_merge_error(const std::string& args, const std::string& what) {
  auto r = test::run_cmd(test::rlvr_bin() + " merge " + args);
  EXPECT_EQ(r.status, 1) << args;
  EXPECT_TRUE(has(r.err, what)) << args << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace

TEST_F(RunDir, MergedModelGeneratesAsTheBaseWithItsAdapter) {
  const std::string adapter = random_adapter(model_, dir_ + "/adapter"), merged = dir_ + "/merged";
  const std::string prompts = dir_ + "/prompts.jsonl";
  write_text_file(prompts, "{\"prompt\": \"Once upon\"}\n{\"prompt_ids\": [72, 105, 33]}\n{\"prompt\": \"2+2=\"}\n");
  auto r = test::run_cmd(test::rlvr_bin() + " merge --model " + model_ + " --adapter " + adapter + " --out " + merged +
                         " --dtype float32");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(has(r.err, "merge: loaded") && has(r.err, "wrote " + merged)) << r.err;
  const auto with_adapter = greedy_ids(model_, prompts, "--adapter " + adapter);
  ASSERT_EQ(with_adapter.size(), 3u);
  EXPECT_NE(greedy_ids(model_, prompts), with_adapter) << "the adapter must change the output";
  EXPECT_EQ(greedy_ids(merged, prompts), with_adapter);

  auto base = SafetensorsFile::open(model_ + "/model.safetensors"), out = SafetensorsFile::open(merged + "/model.safetensors");
  EXPECT_EQ(out.entries().size(), base.entries().size());
  for (const auto& e : out.entries()) EXPECT_FALSE(has(e.name, "lora")) << e.name;
  EXPECT_EQ(read_json_file(merged + "/config.json").at("torch_dtype"), "float32");
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    EXPECT_EQ(read_text_file(merged + "/" + f), read_text_file(model_ + "/" + f)) << f;

  r = test::run_cmd(test::rlvr_bin() + " merge --model " + model_ + " --adapter " + adapter + " --out " + dir_ +
                    "/merged-bf16 --dtype bfloat16");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_json_file(dir_ + "/merged-bf16/config.json").at("torch_dtype"), "bfloat16");
  EXPECT_EQ(SafetensorsFile::open(dir_ + "/merged-bf16/model.safetensors").get("model.norm.weight").scalar_type(),
            torch::kBFloat16);
}

TEST_F(RunDir, MergeRefusesBadInputInOneLine) {
  const std::string adapter = random_adapter(model_, dir_ + "/adapter"), out = dir_ + "/merged";
  const std::string other = random_adapter(test::tiny_model_dir(dir_ + "/wide", 48, 1), dir_ + "/wide-adapter");
  const std::string quantized = dir_ + "/q4";
  make_dirs(quantized);
  auto config = read_json_file(model_ + "/config.json");
  config["quantization_config"] = {{"load_in_4bit", true}, {"bnb_4bit_quant_type", "nf4"}};
  write_json_file(quantized + "/config.json", config);
  const std::string base = "--model " + model_ + " ";
  expect_merge_error(base + "--adapter " + dir_ + "/none --out " + out, "no such folder");
  expect_merge_error(base + "--adapter " + other + " --out " + out, "has shape");
  expect_merge_error(base + "--adapter " + adapter + " --out " + model_, "is the base model directory");
  expect_merge_error(base + "--adapter " + adapter + " --out " + out + " --dtype float64", "merge stores float32");
  expect_merge_error("--model " + quantized + " --adapter " + adapter + " --out " + out, "unquantized base");
  EXPECT_FALSE(file_exists(out)) << "nothing is written before every check passed";
  make_dirs(out);
  write_text_file(out + "/notes.txt", "mine");
  expect_merge_error(base + "--adapter " + adapter + " --out " + out, "not empty");
  EXPECT_EQ(list_dir(out), std::vector<std::string>{"notes.txt"});
}
