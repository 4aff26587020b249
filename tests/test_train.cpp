// Trainer integration tests: a tiny model learns a verifiable task under GRPO; resuming from a
// checkpoint reproduces the uninterrupted run (adapter and metrics); runs are deterministic;
// SFT lowers its loss. Everything runs on CPU in seconds.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/data/synth.h"
#include "rlvr/evaluator/evaluator.h"
#include "rlvr/io/safetensors.h"
#include "rlvr/model/qwen2.h"
#include "rlvr/sandbox/sandbox.h"
#include "rlvr/tokenizer/tokenizer.h"
#include "rlvr/train/completion_batch.h"
#include "rlvr/apps/demo.h"
#include "rlvr/train/grpo_trainer.h"
#include "rlvr/train/sft_trainer.h"
#include "field_reward.h"
#include "testlib.h"
#include "tiny_model.h"

using namespace rlvr;

namespace {

using test::tiny_model_dir;

std::vector<nlohmann::json> metrics_of(const std::string& out) {
  return read_jsonl_file(out + "/metrics.jsonl");
}

GrpoRecipe recipe(const std::vector<std::string>& sets) {
  std::vector<std::string> notices;
  return load_grpo_recipe("", sets, 1, &notices);
}

}  // namespace

// The grouped forward (each prompt once, its KV fanned out to the group's completions) gives the
// full forward's log-probs and gradients: ragged prompts and completions, one-token completions,
// a masked row, groups of different sizes.
void grouped_forward_matches_full_forward(torch::Dtype dtype, double tol) {
  ModelConfig c;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.vocab_size = 40;
  c.max_position_embeddings = 64;
  c.tie_word_embeddings = true;
  CausalLM m = make_random_model(c, 11);
  m->to(dtype);
  const std::vector<std::vector<int64_t>> prompts = {{5, 6, 7, 8, 9}, {1, 2}, {3, 4, 5, 6, 7, 8, 9, 10}};
  const std::vector<int64_t> row_prompt = {0, 0, 0, 1, 1, 2, 2, 2, 2};
  const std::vector<std::vector<int64_t>> comps = {{11, 12, 13}, {14}, {15, 16, 17, 18, 19}, {20, 21},
                                                    {22, 23, 24, 25}, {26}, {27, 28}, {29, 30, 31}, {32, 33}};
  const std::vector<bool> keep = {true, true, true, true, false, true, true, true, true};
  const int64_t Tc = 6;
  std::vector<const std::vector<int64_t>*> ps, distinct, cs;
  for (const auto& p : prompts) distinct.push_back(&p);
  for (size_t i = 0; i < comps.size(); ++i) {
    ps.push_back(&prompts[row_prompt[i]]);
    cs.push_back(&comps[i]);
  }
  auto full = make_completion_batch(ps, cs, Tc, keep);
  auto grouped = make_grouped_completion_batch(distinct, row_prompt, cs, Tc, keep);
  ASSERT_TRUE(grouped.mask.equal(full.mask));
  ASSERT_TRUE(grouped.targets.equal(full.targets));
  auto weights = torch::randn({static_cast<int64_t>(comps.size()), Tc}, torch::kFloat64).to(dtype);
  auto run = [&](bool use_grouped, torch::Tensor* ent) {
    m->zero_grad();
    auto lp = use_grouped ? completion_logprobs(m, grouped, torch::kCPU, 4, 0.7, ent)
                          : completion_logprobs(m, full, torch::kCPU, 4, 0.7, ent);
    (lp * full.mask * weights).sum().backward();
    std::vector<torch::Tensor> grads;
    for (const auto& p : m->parameters()) grads.push_back(p.grad().clone());
    return std::make_pair(lp.detach(), grads);
  };
  torch::Tensor ent_full, ent_grouped;
  auto [lp_full, g_full] = run(false, &ent_full);
  auto [lp_grouped, g_grouped] = run(true, &ent_grouped);
  const auto on = full.mask > 0;
  EXPECT_LT((lp_full - lp_grouped).masked_select(on).abs().max().item<double>(), tol);
  EXPECT_LT((ent_full - ent_grouped).masked_select(on).abs().max().item<double>(), tol);
  ASSERT_EQ(g_full.size(), g_grouped.size());
  double norm = 0;
  for (size_t k = 0; k < g_full.size(); ++k) {
    const double scale = std::max(1.0, g_full[k].abs().max().item<double>());
    EXPECT_LT((g_full[k] - g_grouped[k]).abs().max().item<double>(), tol * scale) << "parameter " << k;
    norm += g_full[k].abs().sum().item<double>();
  }
  EXPECT_GT(norm, 0);
  // A row named as another prompt's changes its log-probs: the grouping is really used.
  auto wrong_rows = row_prompt;
  wrong_rows[3] = 0;
  auto wrong = make_grouped_completion_batch(distinct, wrong_rows, cs, Tc, keep);
  auto lp_wrong = completion_logprobs(m, wrong, torch::kCPU, 4, 0.7, nullptr).detach();
  EXPECT_GT((lp_wrong[3] - lp_full[3]).narrow(0, 0, 2).abs().max().item<double>(), 1e-6);
}

TEST(CompletionBatch, GroupedForwardMatchesFullForward) { grouped_forward_matches_full_forward(torch::kFloat64, 1e-10); }

// float32 takes the CPU attention path that generation uses (fused in-place softmax when no
// gradient flows); with a gradient it must take the differentiable ops.
TEST(CompletionBatch, GroupedForwardMatchesFullForwardFloat32) {
  grouped_forward_matches_full_forward(torch::kFloat32, 2e-5);
}

// 200 rows "d" -> "d" for the copy task.
void write_copy_task(const std::string& path) {
  std::ofstream f(path);
  for (int i = 0; i < 200; ++i) {
    std::string d(1, static_cast<char>('0' + (i * 7) % 10));
    f << nlohmann::json({{"question", d}, {"answer", d}}).dump() << "\n";
  }
}

TEST(GrpoTrain, TinyModelLearnsCopyTask) {
  auto dir = test::scratch_dir("train_learn");
  tiny_model_dir(dir + "/model", 64, 2);
  write_copy_task(dir + "/copy.jsonl");
  // Reward 1 when the single generated token repeats the prompt's digit (chance: 1/259).
  GrpoRecipe r = recipe({"model_name_or_path=" + dir + "/model", "train_dataset_id_or_path=" + dir + "/copy.jsonl",
                         "dataset_format=jsonl", "val_fraction=0", "output_dir=" + dir + "/out", "use_peft=false",
                         "dtype=float32", "learning_rate=0.001", "lr_scheduler_type=constant", "max_steps=300",
                         "num_generations=16", "per_device_train_batch_size=128", "num_shots=0",
                         "prompt_template={question}=", "stop_strings=[]", "max_completion_length=1",
                         "reward_funcs=[exact_match]", "logging_steps=1", "save_steps=0",
                         "gradient_checkpointing=false", "seed=1"});
  GrpoTrainer t(r);
  auto res = t.train(false);
  ASSERT_EQ(res.steps_done, 300);
  auto rows = metrics_of(dir + "/out");
  ASSERT_EQ(rows.size(), 300u);
  double first = 0, last = 0;
  for (int i = 0; i < 10; ++i) first += rows[i]["reward"].get<double>() / 10;
  for (int i = 280; i < 300; ++i) last += rows[i]["reward"].get<double>() / 20;
  EXPECT_LT(first, 0.1) << "starts near chance";
  EXPECT_GE(last, 0.9) << "learns the task";
  EXPECT_TRUE(file_exists(dir + "/out/model.safetensors"));
}

// QLoRA (issue 16, acceptance 5): LoRA adapters on a 4-bit NF4 base with double quantization learn
// to answer "7" after any digit (chance 1/259), and the adapter the run saves (PEFT layout) loads on
// the unquantized float32 base, where greedy decoding then answers "7" to every digit. The base's
// weights are drawn with std 0.2: with 0.02 its tied embedding rows are too short for adapters
// alone to lift any logit far above the rest. (The copy task above is a poor LoRA test: a prompt
// whose 16 samples all agree on a wrong digit gets no advantage signal, and adapters lock into it.)
TEST(GrpoTrain, QloraLearnsAndItsAdapterLoadsOnTheUnquantizedBase) {
  auto dir = test::scratch_dir("train_qlora");
  tiny_model_dir(dir + "/model", 64, 2, 0.2);
  {
    std::ofstream f(dir + "/seven.jsonl");
    for (int i = 0; i < 200; ++i)
      f << nlohmann::json({{"question", std::string(1, static_cast<char>('0' + (i * 7) % 10))}, {"answer", "7"}}).dump()
        << "\n";
  }
  GrpoRecipe r = recipe({"model_name_or_path=" + dir + "/model", "train_dataset_id_or_path=" + dir + "/seven.jsonl",
                         "dataset_format=jsonl", "val_fraction=0", "output_dir=" + dir + "/out", "use_peft=true",
                         "load_in_4bit=true", "bnb_4bit_quant_type=nf4", "use_bnb_nested_quant=true",
                         "lora_r=8", "lora_alpha=16", "lora_dropout=0", "lora_target_modules=[all-linear]",
                         "dtype=float32", "learning_rate=0.003", "lr_scheduler_type=constant", "max_steps=100",
                         "num_generations=16", "per_device_train_batch_size=128", "num_shots=0",
                         "prompt_template={question}=", "stop_strings=[]", "max_completion_length=1",
                         "reward_funcs=[exact_match]", "logging_steps=1", "save_steps=0",
                         "gradient_checkpointing=false", "seed=1"});
  {
    GrpoTrainer t(r);
    ASSERT_TRUE(t.policy().model->is_4bit());
    ASSERT_EQ(t.train(false).steps_done, 100);
  }
  auto rows = metrics_of(dir + "/out");
  ASSERT_EQ(rows.size(), 100u);
  double first = 0, last = 0;
  for (int i = 0; i < 10; ++i) first += rows[i]["reward"].get<double>() / 10;
  for (int i = 80; i < 100; ++i) last += rows[i]["reward"].get<double>() / 20;
  EXPECT_LT(first, 0.1) << "starts near chance";
  EXPECT_GE(last, 0.9) << "learns the task on the 4-bit base";
  CausalLM base = load_model(dir + "/model", torch::kFloat32, torch::kCPU);
  ASSERT_FALSE(base->is_4bit());
  load_adapter(base, dir + "/out");
  base->eval();
  const Tokenizer tok = Tokenizer::load(dir + "/model");
  torch::NoGradGuard ng;
  for (char d = '0'; d <= '9'; ++d) {
    auto ids = tok.encode(std::string(1, d) + "=");
    auto x = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end())).unsqueeze(0);
    auto pos = torch::arange(x.size(1)).unsqueeze(0);
    const int64_t next = base->forward(x, pos).select(1, -1).argmax(-1).item<int64_t>();
    EXPECT_EQ(tok.decode({static_cast<int32_t>(next)}), "7") << "prompt " << d << "=";
  }
}

// Three runs of the same recipe plus `extra`: a, b resumed from a's step-2 checkpoint, c from
// scratch. b ends as a did (resume) and c equals a (determinism), adapter and metrics.
void resume_equals_uninterrupted(const std::string& name, const std::vector<std::string>& extra) {
  auto dir = test::scratch_dir(name);
  tiny_model_dir(dir + "/model", 32, 2);
  SynthOptions so;
  write_gsm8k_jsonl(dir + "/train.jsonl", synth_problems(64, 5, so, Split::kTrain));
  auto run = [&](const std::string& out) {
    std::vector<std::string> sets = {"model_name_or_path=" + dir + "/model", "train_dataset_id_or_path=" + dir + "/train.jsonl",
                   "output_dir=" + out, "use_peft=true", "lora_r=4", "lora_alpha=8", "lora_dropout=0.1",
                   "lora_target_modules=[q_proj, v_proj, down_proj]", "dtype=float32",
                   "learning_rate=0.01", "max_steps=4", "warmup_ratio=0.25", "lr_scheduler_type=cosine",
                   "num_generations=4", "per_device_train_batch_size=4", "gradient_accumulation_steps=2",
                   "num_shots=1", "max_completion_length=12", "beta=0.05", "num_iterations=1",
                   // A random model never writes the format; any digit gives the groups variance.
                   "reward_funcs=[gsm8k_correct, any_digit]",
                   "reward_options={any_digit: {type: regex, pattern: '[0-9]'}}",
                   "logging_steps=1", "save_steps=2", "gradient_checkpointing=true", "seed=7"};
    sets.insert(sets.end(), extra.begin(), extra.end());
    return recipe(sets);
  };
  GrpoTrainer a(run(dir + "/a"));
  a.train(false);
  ASSERT_TRUE(is_directory(dir + "/a/checkpoint-2"));
  ASSERT_TRUE(is_directory(dir + "/a/checkpoint-4"));
  // Resume a second run from the first run's step-2 checkpoint.
  make_dirs(dir + "/b");
  // cp, not std::filesystem::copy: pip libtorch 2.x interposes its own std::filesystem, whose
  // recursive copy crashes (seen on the GPU machine).
  ASSERT_EQ(test::run_cmd("cp -r '" + dir + "/a/checkpoint-2' '" + dir + "/b/checkpoint-2'").status, 0);
  {
    std::ofstream m(dir + "/b/metrics.jsonl");  // rows of steps 1..2 as a stopped run leaves them
    auto rows = metrics_of(dir + "/a");
    m << rows[0].dump() << "\n" << rows[1].dump() << "\n";
  }
  GrpoTrainer b(run(dir + "/b"));
  auto res = b.train(true);
  EXPECT_EQ(res.steps_done, 4);
  // A third run from scratch: determinism.
  GrpoTrainer c(run(dir + "/c"));
  c.train(false);

  auto fa = SafetensorsFile::open(dir + "/a/adapter_model.safetensors");
  auto fb = SafetensorsFile::open(dir + "/b/adapter_model.safetensors");
  auto fc = SafetensorsFile::open(dir + "/c/adapter_model.safetensors");
  ASSERT_EQ(fa.entries().size(), 2u * 3u * 2u);
  double moved = 0;
  for (const auto& e : fa.entries()) {
    auto ta = fa.get(e.name);
    EXPECT_LE((ta - fb.get(e.name)).abs().max().item<double>(), 1e-6) << e.name;
    EXPECT_TRUE(ta.equal(fc.get(e.name))) << e.name;
    if (e.name.find("lora_B") != std::string::npos) moved += ta.abs().sum().item<double>();
  }
  EXPECT_GT(moved, 0) << "training changed the adapter";
  auto ma = metrics_of(dir + "/a"), mb = metrics_of(dir + "/b"), mc = metrics_of(dir + "/c");
  ASSERT_EQ(ma.size(), 4u);
  ASSERT_EQ(mb.size(), 4u);
  for (size_t i = 0; i < 4; ++i)
    for (const auto& [k, v] : ma[i].items()) {
      if (k.rfind("time/", 0) == 0 || k.rfind("throughput/", 0) == 0) continue;
      EXPECT_EQ(v, mb[i][k]) << "step " << i + 1 << " " << k;
      EXPECT_EQ(v, mc[i][k]) << "step " << i + 1 << " " << k;
    }
  EXPECT_TRUE(ma[0].contains("kl"));
  EXPECT_TRUE(ma[0].contains("rewards/any_digit/mean"));
  EXPECT_GT(ma[0]["reward_std"].get<double>(), 0);
}

TEST(GrpoTrain, ResumeEqualsUninterruptedAndRunsAreDeterministic) { resume_equals_uninterrupted("train_resume", {}); }

// QLoRA runs resume bit for bit too: the base is quantized the same way at every load.
TEST(GrpoTrain, QloraResumeEqualsUninterruptedAndRunsAreDeterministic) {
  resume_equals_uninterrupted("train_resume_qlora", {"load_in_4bit=true", "use_bnb_nested_quant=true"});
}

TEST(GrpoTrain, SharedPrefixForwardGivesTheFullSequenceStep) {
  auto dir = test::scratch_dir("train_shared_prefix");
  tiny_model_dir(dir + "/model", 32, 2);
  SynthOptions so;
  write_gsm8k_jsonl(dir + "/train.jsonl", synth_problems(64, 9, so, Split::kTrain));
  // Two shots make every prompt start with the same few hundred bytes (= tokens here).
  auto run = [&](const std::string& out, int64_t min_prefix) {
    GrpoTrainer t(recipe({"model_name_or_path=" + dir + "/model", "train_dataset_id_or_path=" + dir + "/train.jsonl",
                          "output_dir=" + out, "use_peft=true", "lora_r=4", "lora_alpha=8", "lora_dropout=0",
                          "dtype=float32", "max_steps=1", "num_generations=4", "per_device_train_batch_size=4",
                          "gradient_accumulation_steps=2", "num_shots=2", "max_completion_length=10",
                          "beta=0.05", "reward_funcs=[any_digit]",
                          "reward_options={any_digit: {type: regex, pattern: '[0-9]'}}", "save_steps=0",
                          "gradient_checkpointing=true", "seed=11", "eval_steps=1", "eval_limit=3",
                          "shared_prefix_min_tokens=" + std::to_string(min_prefix)}));
    t.train(false);
    return metrics_of(out)[0];
  };
  auto full = run(dir + "/full", 0), shared = run(dir + "/shared", 32);
  // Validation (greedy, the few-shot prefix prefilled once by the engine) ran after the step.
  ASSERT_TRUE(full.contains("eval_accuracy") && full.contains("time/eval_s"));
  EXPECT_GE(full["eval_accuracy"].get<double>(), 0.0);
  EXPECT_LE(full["eval_accuracy"].get<double>(), 1.0);
  EXPECT_EQ(full["eval_reward"].get<double>(), shared["eval_reward"].get<double>());
  EXPECT_LT(shared["train/forward_tokens"].get<double>(), 0.5 * full["train/forward_tokens"].get<double>());
  ASSERT_GT(full["reward_std"].get<double>(), 0);  // non-zero advantages, so a real gradient
  for (const char* k : {"loss", "grad_norm", "entropy", "kl", "reward"}) {
    const double a = full[k].get<double>(), b = shared[k].get<double>();
    EXPECT_NEAR(a, b, 1e-4 * std::max(1.0, std::abs(a))) << k;
  }
  EXPECT_GT(full["grad_norm"].get<double>(), 0);
}

// beta > 0 with full fine-tuning: the KL reference is a frozen copy of the starting weights, so
// the KL is 0 on the first step (policy == reference) and positive once the policy has moved.
TEST(GrpoTrain, FullFineTuningKlAgainstFrozenStart) {
  auto dir = test::scratch_dir("train_full_kl");
  tiny_model_dir(dir + "/model", 32, 2);
  SynthOptions so;
  write_gsm8k_jsonl(dir + "/train.jsonl", synth_problems(64, 6, so, Split::kTrain));
  GrpoTrainer t(recipe({"model_name_or_path=" + dir + "/model", "train_dataset_id_or_path=" + dir + "/train.jsonl",
                        "output_dir=" + dir + "/out", "use_peft=false", "dtype=float32", "learning_rate=0.01",
                        "lr_scheduler_type=constant", "max_steps=3", "num_generations=4",
                        "per_device_train_batch_size=16", "num_shots=0", "max_completion_length=8", "beta=0.1",
                        "reward_funcs=[any_digit]", "reward_options={any_digit: {type: regex, pattern: '[0-9]'}}",
                        "logging_steps=1", "save_steps=0", "gradient_checkpointing=false", "seed=2"}));
  t.train(false);
  auto rows = metrics_of(dir + "/out");
  ASSERT_EQ(rows.size(), 3u);
  ASSERT_TRUE(rows[0].contains("kl"));
  EXPECT_LT(std::abs(rows[0]["kl"].get<double>()), 1e-7) << "the reference is the starting policy";
  EXPECT_GT(rows[2]["kl"].get<double>(), 1e-6) << "the policy moved, the reference did not";
}

TEST(SftTrain, LossFallsOnSolvedProblems) {
  auto dir = test::scratch_dir("train_sft");
  tiny_model_dir(dir + "/model", 64, 2);
  SynthOptions so;
  so.max_steps = 1;
  write_gsm8k_jsonl(dir + "/train.jsonl", synth_problems(200, 1, so, Split::kTrain));
  std::vector<std::string> notices;
  SftRecipe r = load_sft_recipe("", {"model_name_or_path=" + dir + "/model", "train_dataset_id_or_path=" + dir + "/train.jsonl",
                                     "output_dir=" + dir + "/out", "use_peft=false", "dtype=float32",
                                     "learning_rate=0.003", "max_steps=30", "per_device_train_batch_size=16",
                                     "logging_steps=1", "save_steps=0", "gradient_checkpointing=false"},
                                1, &notices);
  SftTrainer t(r);
  t.train(false);
  auto rows = metrics_of(dir + "/out");
  ASSERT_EQ(rows.size(), 30u);
  EXPECT_LT(rows[29]["loss"].get<double>(), 0.5 * rows[0]["loss"].get<double>());
  // The output is a full model directory that loads with its tokenizer.
  EXPECT_NO_THROW(load_model(dir + "/out", torch::kFloat32, torch::kCPU));
  EXPECT_TRUE(file_exists(dir + "/out/tokenizer.json"));
}

// `rlvr demo` end to end at toy size: every phase runs, the summary has both evaluations with
// their intervals, held-out questions never occur in the train file, and GRPO ran the steps asked.
TEST(Demo, RunsEveryPhaseOnDisjointData) {
  DemoOptions o;
  o.out_dir = test::scratch_dir("demo");
  o.seed = 4;
  o.train_problems = 96;
  o.test_problems = 24;
  o.sft_steps = 3;
  o.grpo_steps = 2;
  o.grpo_prompts = 2;
  o.num_generations = 4;
  auto s = run_demo(o);
  for (const char* when : {"before", "after"})
    for (const char* how : {"sampled", "greedy"}) {
      const auto& r = s[when][how];
      const double acc = r["accuracy"].get<double>(), lo = r["ci95"][0].get<double>(), hi = r["ci95"][1].get<double>();
      EXPECT_LE(lo, acc) << when << " " << how;
      EXPECT_LE(acc, hi) << when << " " << how;
      EXPECT_GE(lo, 0.0);
      EXPECT_LE(hi, 1.0);
      EXPECT_LT(lo, hi) << "a 95% interval over 24 problems has width";
    }
  for (const char* p : {"data", "sft", "eval_before", "grpo", "eval_after"})
    EXPECT_GE(s["phase_seconds"][p].get<double>(), 0.0) << p;
  EXPECT_GE(s["seconds"].get<double>(), s["phase_seconds"]["grpo"].get<double>());
  std::set<std::string> train_q;
  for (const auto& row : read_jsonl_file(o.out_dir + "/train.jsonl")) train_q.insert(row["question"].get<std::string>());
  auto test_rows = read_jsonl_file(o.out_dir + "/test.jsonl");
  ASSERT_EQ(test_rows.size(), 24u);
  ASSERT_EQ(train_q.size() > 0, true);
  for (const auto& row : test_rows) EXPECT_EQ(train_q.count(row["question"].get<std::string>()), 0u);
  EXPECT_EQ(metrics_of(o.out_dir + "/grpo").size(), 2u);
  EXPECT_TRUE(file_exists(o.out_dir + "/report.html"));
  EXPECT_TRUE(file_exists(o.out_dir + "/summary.json"));
  EXPECT_EQ(read_json_file(o.out_dir + "/summary.json"), s);
}

// Acceptance (issue 14): the GRPO rollout prompts a problem with the same token ids as `rlvr eval`
// (one prompt builder), on the real Qwen2.5 tokenizer with 8 GSM8K exemplars from the same pool and
// seed, and those ids are the tokenizer's encoding of the whole prompt text.
TEST(GrpoTrain, RolloutPromptIdsEqualEvalPromptIdsOnQwenTokenizer) {
  const std::string dir = test::scratch_dir("rollout_prompt_ids");
  const std::string qwen = join_path(test::shared_data(), "qwen-tokenizer");
  const std::string model = join_path(dir, "model");
  make_dirs(model);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    copy_file(join_path(qwen, f), join_path(model, f));
  ModelConfig c;  // a random model over Qwen's vocabulary: only its tokenizer matters here
  c.hidden_size = 16;
  c.intermediate_size = 16;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 8;
  c.vocab_size = 151936;
  c.eos_token_ids = {151643};
  CausalLM m = make_random_model(c, 5);
  save_model(m, model, torch::kFloat32);
  const std::string gsm8k = join_path(test::shared_data(), "gsm8k");
  DataOptions d;
  d.limit = 200;
  write_gsm8k_jsonl(join_path(dir, "train.jsonl"), load_problems(join_path(gsm8k, "train.jsonl"), d));
  d.limit = 12;
  const std::vector<Problem> problems = load_problems(join_path(gsm8k, "test.jsonl"), d);
  // The default GSM8K templates, and templates whose few-shot block ends in a space: there the
  // block's own ids differ from the whole prompt's (" Q" is one token), so only the joint encoding
  // of the prompt is right.
  const std::vector<std::vector<std::string>> templates = {
      {}, {"exemplar_template=Q: {question}\nA: {answer}. ", "prompt_template=Q: {question}\nA:"}};
  for (const auto& tmpl : templates) {
    std::vector<std::string> sets = {"model_name_or_path=" + model, "train_dataset_id_or_path=" + dir + "/train.jsonl",
                                     "val_fraction=0", "max_prompt_length=null", "num_shots=8",
                                     "output_dir=" + dir + "/out"};
    sets.insert(sets.end(), tmpl.begin(), tmpl.end());
    GrpoTrainer t(recipe(sets));
    if (!tmpl.empty()) ASSERT_EQ(t.recipe().exemplar_template, "Q: {question}\nA: {answer}. ");
    const PromptIds rollout = t.prompt_ids(problems);
    // What `rlvr eval --shots 8 --fewshot-data train.jsonl` runs, with the same templates.
    Engine engine(t.policy().model);
    EvalOptions opt;
    opt.prompt.shots = 8;
    opt.prompt.exemplar_template = t.recipe().exemplar_template;
    opt.prompt.query_template = t.recipe().prompt_template;
    opt.max_new_tokens = 1;
    const std::vector<Problem> pool = load_problems(join_path(dir, "train.jsonl"), DataOptions{});
    const EvalOutput eval = evaluate(engine, *t.policy().tokenizer, problems, pool, opt);
    ASSERT_EQ(rollout.full.size(), problems.size());
    EXPECT_EQ(rollout.full, eval.prompt_ids.full);
    PromptBuilder builder(pool, opt.prompt);
    for (size_t i = 0; i < problems.size(); ++i) {
      const auto joint = t.policy().tokenizer->encode(builder.build(problems[i]).full());
      EXPECT_EQ(rollout.full[i], std::vector<int64_t>(joint.begin(), joint.end())) << i;
    }
    if (tmpl.empty()) {  // one few-shot block, the engine's shared prefix
      ASSERT_EQ(rollout.groups.size(), 1u);
      EXPECT_GT(rollout.groups[0].shared_prefix.size(), 1000u);
    } else {  // the block's ids are not a prefix of the prompts' ids: prompts go whole
      const auto pre = t.policy().tokenizer->encode(builder.build(problems[0]).prefix);
      EXPECT_NE(std::vector<int64_t>(pre.begin(), pre.end()),
                std::vector<int64_t>(rollout.full[0].begin(), rollout.full[0].begin() + pre.size()));
      EXPECT_TRUE(rollout.groups[0].shared_prefix.empty());
    }
  }
}

// Every field of a dataset row reaches the rewards in the GRPO step and in validation, and a
// reward's counters are logged as rewards/<name>/<counter> (cumulative).
TEST(GrpoTrain, RewardsSeeEveryRowFieldAndLogTheirCounters) {
  auto dir = test::scratch_dir("train_row_fields");
  tiny_model_dir(dir + "/model", 32, 2);
  write_text_file(dir + "/code.jsonl", test::code_rows(8));
  GrpoRecipe r = recipe({"model_name_or_path=" + dir + "/model", "train_dataset_id_or_path=" + dir + "/code.jsonl",
                         "dataset_format=jsonl", "prompt_field=prompt", "prompt_style=code", "num_shots=0",
                         "val_fraction=0.25", "output_dir=" + dir + "/out", "use_peft=false", "dtype=float32",
                         "max_steps=2", "num_generations=2", "per_device_train_batch_size=4",
                         "max_completion_length=4", "reward_funcs=[fields]", "eval_steps=2", "logging_steps=1",
                         "save_steps=0", "gradient_checkpointing=false", "seed=3"});
  EXPECT_EQ(r.prompt_template, prompt_style_options(PromptStyle::kCode).query_template);
  EXPECT_TRUE(r.stop_strings.empty());
  auto reward = std::make_unique<test::FieldReward>();
  test::FieldReward* seen = reward.get();
  std::vector<std::unique_ptr<RewardFunction>> rewards;
  rewards.push_back(std::move(reward));
  GrpoTrainer t(r, std::move(rewards));
  ASSERT_EQ(t.train(false).steps_done, 2);

  const auto rows = metrics_of(dir + "/out");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].at("rewards/fields/samples"), 4);  // 2 prompts x 2 completions
  EXPECT_EQ(rows[0].at("rewards/fields/batches"), 1);
  EXPECT_EQ(rows[1].at("rewards/fields/samples"), 8);  // cumulative; step 2's validation comes after
  EXPECT_TRUE(rows[1].contains("eval_reward"));
  // 8 training samples and the 2 validation problems, each with its whole row.
  ASSERT_EQ(seen->seen.size(), 10u);
  std::set<std::string> val_prompts, seen_in_validation;
  DataOptions d = data_options(r, "train");
  for (const Problem& p : split_validation(load_problems(dir + "/code.jsonl", d), 0.25, 3).second)
    val_prompts.insert(p.question);
  ASSERT_EQ(val_prompts.size(), 2u);
  for (size_t i = 0; i < seen->seen.size(); ++i) {
    const nlohmann::json& f = seen->seen[i];
    const std::string prompt = f.at("prompt").get<std::string>();
    const std::string name = prompt.substr(6, prompt.size() - 7);  // "Write f3." -> "f3"
    EXPECT_EQ(f.at("tests").size(), 3u);
    EXPECT_EQ(f.at("tests")[2], "assert " + name + "(3) == 3") << f.dump();
    EXPECT_EQ(f.at("language"), "python");
    if (i >= 8) seen_in_validation.insert(f.at("prompt").get<std::string>());
  }
  EXPECT_EQ(seen_in_validation, val_prompts);

  std::vector<std::unique_ptr<RewardFunction>> wrong;
  wrong.push_back(std::make_unique<test::FieldReward>());
  GrpoRecipe named = r;
  named.reward_funcs = {"code"};
  try {
    GrpoTrainer t2(named, std::move(wrong));
    FAIL() << "a reward that reward_funcs does not name was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("1 rewards given ('fields' first); reward_funcs must name the given rewards"), std::string::npos) << e.what();
  }
}

// recipes/code-tasks-smoke.yaml runs its 5 GRPO steps end to end through the CLI on the project's
// code tasks with the tiny model its comments describe (acceptance 4 of issue 17). With the `code`
// reward registered the recipe runs as written and its counters reach metrics.jsonl; without it a
// regex reward (a fence in the completion) stands in.
TEST(GrpoTrain, CodeTasksSmokeRecipeRunsFiveSteps) {
  const std::string why = sandbox::bwrap_unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "the sandbox cannot run here: " << why;
  const std::string dir = test::scratch_dir("train_code_smoke"), src = RLVR_SOURCE_DIR;
  const std::string model = dir + "/model", out = dir + "/out";
  auto r = test::run_cmd(test::rlvr_bin() + " init-tokenizer --byte-level --out " + model);
  ASSERT_EQ(r.status, 0) << r.err;
  r = test::run_cmd(test::rlvr_bin() + " init-model --config " + src + "/recipes/tiny-byte-qwen2.json --out " + model);
  ASSERT_EQ(r.status, 0) << r.err;
  r = test::run_cmd("cd " + src + " && " + test::rlvr_bin() + " train recipes/code-tasks-smoke.yaml --set model_name_or_path=" +
                    model + " --set output_dir=" + out);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto rows = metrics_of(out);
  ASSERT_EQ(rows.size(), 5u);
  for (const auto& row : rows) EXPECT_TRUE(row.contains("rewards/code/mean")) << row.dump();
  for (const char* c : {"timeouts", "memory_kills", "sandbox_errors"})
    EXPECT_TRUE(rows.back().contains(std::string("rewards/code/") + c)) << rows.back().dump();
  // The random model writes no fence; with require_fence: false its text runs in the sandbox as
  // Python, and 64 random bytes do not compile.
  EXPECT_GT(rows.back().value("rewards/code/compile_errors", 0.0), 0.0) << rows.back().dump();
  EXPECT_EQ(rows.back().value("rewards/code/sandbox_errors", -1.0), 0.0);
  EXPECT_TRUE(rows.back().contains("eval_reward"));
  EXPECT_TRUE(file_exists(out + "/tokenizer.json"));  // `rlvr eval --model out` works on it
}

namespace {

// Records the prompt and completion text each reward sample carries; scores the reply's length.
class TextRecorder : public RewardFunction {
 public:
  const std::string& name() const override { return name_; }
  std::vector<double> score(const std::vector<RewardSample>& batch) override {
    std::vector<double> out;
    for (const RewardSample& s : batch) {
      prompts.push_back(s.prompt);
      completions.push_back(s.completion);
      out.push_back(static_cast<double>(s.completion.size() % 3));
    }
    return out;
  }
  std::vector<std::string> prompts, completions;

 private:
  std::string name_ = "text";
};

}  // namespace

// Acceptance 3 of issue 19: GRPO on a conversational JSONL (TRL's "prompt": [messages]) with a
// ChatML tokenizer whose end of turn is <|im_end|> and the Qwen2.5 chat template: each prompt is
// the template's rendering (default system turn, the user turn, the generation prompt), each
// completion stops at <|im_end|>, and the rewards see the reply text.
TEST(GrpoTrain, ConversationalDatasetRendersWithTheChatTemplate) {
  auto dir = test::scratch_dir("train_chat");
  const std::string model = tiny_model_dir(dir + "/model", 32, 2);
  const nlohmann::json templates =
      read_json_file(test::shared_data() + "/chat-templates/templates.json").at("templates");
  nlohmann::json config = read_json_file(model + "/tokenizer_config.json");
  config["chat_template"] = templates.at(0).at("template");  // Qwen/Qwen2.5-0.5B-Instruct
  ASSERT_EQ(templates.at(0).at("model"), "Qwen/Qwen2.5-0.5B-Instruct");
  write_json_file(model + "/tokenizer_config.json", config);
  std::string rows;
  for (int i = 0; i < 8; ++i)
    rows += nlohmann::json({{"prompt", {{{"role", "user"}, {"content", "Add " + std::to_string(i) + " and 1."}}}},
                            {"answer", std::to_string(i + 1)}}).dump() + "\n";
  write_text_file(dir + "/chat.jsonl", rows);
  GrpoRecipe r = recipe({"model_name_or_path=" + model, "train_dataset_id_or_path=" + dir + "/chat.jsonl",
                         "dataset_format=jsonl", "prompt_field=prompt", "num_shots=0", "chat_template_kwargs={enable_thinking: false}", "val_fraction=0.25", "eval_steps=2",
                         "output_dir=" + dir + "/out", "use_peft=false", "dtype=float32", "max_steps=2",
                         "num_generations=2", "per_device_train_batch_size=4", "max_completion_length=6",
                         "reward_funcs=[text]", "logging_steps=1", "save_steps=0", "gradient_checkpointing=false",
                         "temperature=1.0", "seed=5"});
  auto reward = std::make_unique<TextRecorder>();
  TextRecorder* seen = reward.get();
  std::vector<std::unique_ptr<RewardFunction>> rewards;
  rewards.push_back(std::move(reward));
  GrpoTrainer t(r, std::move(rewards));
  ASSERT_EQ(t.train(false).steps_done, 2);
  ASSERT_EQ(metrics_of(dir + "/out").size(), 2u);
  ASSERT_EQ(seen->prompts.size(), 10u);  // 2 steps x 2 prompts x 2 completions, then 2 validation problems
  const Tokenizer tok = Tokenizer::load(model);
  EXPECT_EQ(tok.eos_ids(), std::vector<int32_t>{258});  // <|im_end|>
  for (size_t i = 0; i < seen->prompts.size(); ++i) {
    const std::string& p = seen->prompts[i];
    EXPECT_EQ(p.rfind("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                      "<|im_start|>user\nAdd ", 0), 0u) << p;
    const std::string end = " and 1.<|im_end|>\n<|im_start|>assistant\n";
    ASSERT_GT(p.size(), end.size());
    EXPECT_EQ(p.substr(p.size() - end.size()), end) << p;
    EXPECT_EQ(seen->completions[i].find("<|im_end|>"), std::string::npos) << seen->completions[i];
  }
}
