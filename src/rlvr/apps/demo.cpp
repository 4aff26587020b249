// `rlvr demo`: the whole mission on a laptop CPU, phase by phase (see demo.h).
#include "rlvr/apps/demo.h"

#include <cstdio>
#include <fstream>

#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/data/synth.h"
#include "rlvr/dist/comm.h"
#include "rlvr/engine/engine.h"
#include "rlvr/evaluator/evaluator.h"
#include "rlvr/eval/report.h"
#include "rlvr/model/qwen2.h"
#include "rlvr/tokenizer/tokenizer.h"
#include "rlvr/train/grpo_trainer.h"
#include "rlvr/train/sft_trainer.h"

namespace rlvr {

namespace {

// With several ranks (`rlvr demo --nproc-per-node 2`) every rank trains and evaluates its share;
// rank 0 alone prints and writes the data, the initial model and the report.
bool main_rank() { return dist::world().is_main(); }

void phase(int i, const char* what) {
  if (main_rank()) std::fprintf(stderr, "\n== demo %d/6: %s\n", i, what);
}

// The demo policy: a 4-layer byte-level Qwen2 (~0.77M parameters), small enough for 2 cores.
ModelConfig demo_config() {
  ModelConfig c;
  c.hidden_size = 128;
  c.intermediate_size = 352;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 32;
  c.vocab_size = 259;  // 256 bytes + <|endoftext|>, <|im_start|>, <|im_end|>
  c.max_position_embeddings = 512;
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = true;
  c.initializer_range = 0.05;
  c.eos_token_ids = {258};
  return c;
}

nlohmann::json acc_json(const EvalRunResult& r) {
  return {{"accuracy", static_cast<double>(r.strict_correct) / static_cast<double>(std::max<int64_t>(r.n, 1))},
          {"ci95", {r.strict_ci.lo, r.strict_ci.hi}}};
}

struct Scores {
  EvalRunResult sampled, greedy;
};

Scores evaluate_model(const std::string& model_dir, const std::vector<Problem>& test,
                      const std::vector<Problem>& pool, const std::string& label, uint64_t seed,
                      int64_t batch) {
  CausalLM m = load_model(model_dir, torch::kFloat32, torch::kCPU);
  m->eval();
  Tokenizer tok = Tokenizer::load(model_dir);
  Engine engine(m);
  Scores s;
  for (bool sampled : {true, false}) {
    EvalOptions eo;
    eo.prompt.shots = 0;
    eo.temperature = sampled ? 1.0 : 0.0;  // sampled = the training temperature: pass@1
    eo.max_new_tokens = 64;
    eo.seed = seed;
    eo.max_batch_seqs = batch;  // waves: results do not depend on them, small ones decode faster
    eo.model_label = label + (sampled ? " (sampled, T=1)" : " (greedy)");
    auto out = evaluate(engine, tok, test, pool, eo);
    if (main_rank())
      std::fprintf(stderr, "  %-28s strict accuracy %5.1f%%  [%4.1f, %4.1f]  format %5.1f%%\n",
                 eo.model_label.c_str(), 100.0 * out.result.strict_correct / out.result.n,
                 100 * out.result.strict_ci.lo, 100 * out.result.strict_ci.hi, 100 * out.result.format_rate);
    (sampled ? s.sampled : s.greedy) = out.result;
  }
  return s;
}

std::string before_after_table(const Scores& b, const Scores& a) {
  auto cell = [](const EvalRunResult& r) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "%.1f%% [%.1f, %.1f]", 100.0 * r.strict_correct / std::max<int64_t>(r.n, 1),
                  100 * r.strict_ci.lo, 100 * r.strict_ci.hi);
    return std::string(buf);
  };
  return "<h2>Held-out strict accuracy, before and after GRPO</h2><table><tr><th></th><th>sampled (T=1, pass@1)"
         "</th><th>greedy</th></tr><tr><td>after SFT (before GRPO)</td><td>" +
         cell(b.sampled) + "</td><td>" + cell(b.greedy) + "</td></tr><tr><td>after GRPO</td><td>" + cell(a.sampled) +
         "</td><td>" + cell(a.greedy) + "</td></tr></table><p>" + std::to_string(b.greedy.n) +
         " held-out problems; 95% Wilson intervals; strict = the gsm8k_correct rule.</p>";
}

struct DemoData {
  std::vector<Problem> train, test;
};

// Phase 1: disjoint synthetic train and test problems, written as GSM8K JSONL into `out`.
DemoData write_demo_data(const DemoOptions& o, const std::string& out) {
  SynthOptions so;
  so.split_by_text = true;
  so.min_steps = o.min_steps;
  so.max_steps = o.max_steps;
  so.max_number = o.max_number;
  DemoData d;
  d.train = synth_problems(o.train_problems, o.seed, so, Split::kTrain);
  d.test = synth_problems(o.test_problems, o.seed + 1000, so, Split::kTest);
  if (!main_rank()) return d;
  write_gsm8k_jsonl(join_path(out, "train.jsonl"), d.train);
  write_gsm8k_jsonl(join_path(out, "test.jsonl"), d.test);
  std::fprintf(stderr, "  %zu train, %zu test problems, e.g. \"%s\" -> %s\n", d.train.size(), d.test.size(),
               d.test[0].question.c_str(), d.test[0].answer.c_str());
  return d;
}

// Phase 2: the randomly initialised model and its byte-level tokenizer; returns the folder.
std::string write_init_model(const std::string& out, uint64_t seed) {
  const std::string init = join_path(out, "model-init");
  if (!main_rank()) return init;
  write_byte_level_tokenizer(init);
  CausalLM m = make_random_model(demo_config(), seed);
  save_model(m, init, torch::kFloat32);
  std::fprintf(stderr, "  %s: %lld parameters\n", init.c_str(), (long long)demo_config().num_parameters());
  return init;
}

SftRecipe demo_sft_recipe(const DemoOptions& o, const std::string& out, const std::string& init) {
  std::vector<std::string> notices;
  return load_sft_recipe(
      "",
      {"model_name_or_path=" + init, "train_dataset_id_or_path=" + join_path(out, "train.jsonl"),
       "output_dir=" + join_path(out, "sft"), "use_peft=false", "dtype=float32",
       "learning_rate=" + std::to_string(o.sft_lr), "max_steps=" + std::to_string(o.sft_steps),
       "per_device_train_batch_size=" + std::to_string(32 / dist::world().world()), "lr_scheduler_type=cosine",
       "warmup_ratio=0.05", "logging_steps=20",
       "save_steps=0", "gradient_checkpointing=false", "seed=" + std::to_string(o.seed), "overwrite_output_dir=true"},
      dist::world().world(), &notices);
}

GrpoRecipe demo_grpo_recipe(const DemoOptions& o, const std::string& out) {
  std::vector<std::string> notices;
  return load_grpo_recipe(
      "",
      {"model_name_or_path=" + join_path(out, "sft"), "train_dataset_id_or_path=" + join_path(out, "train.jsonl"),
       "output_dir=" + join_path(out, "grpo"), "use_peft=false", "dtype=float32",
       "learning_rate=" + std::to_string(o.grpo_lr), "lr_scheduler_type=constant_with_warmup",
       "warmup_steps=" + std::to_string(o.grpo_warmup_steps),
       "max_steps=" + std::to_string(o.grpo_steps), "num_generations=" + std::to_string(o.num_generations),
       "per_device_train_batch_size=" + std::to_string(o.grpo_prompts * o.num_generations / dist::world().world()),
       "num_iterations=" + std::to_string(o.num_iterations), "num_shots=0", "max_completion_length=64",
       "temperature=1.0", "beta=0.0", "loss_type=dapo", "logging_steps=1", "save_steps=0",
       "gradient_checkpointing=false", "seed=" + std::to_string(o.seed), "overwrite_output_dir=true"},
      dist::world().world(), &notices);
}

// The report (training curves + the before/after table), eval/ results and summary.json.
nlohmann::json write_demo_report(const std::string& out, const Scores& before, const Scores& after,
                                 double seconds, const nlohmann::json& phase_seconds) {
  nlohmann::json summary = {
      {"before", {{"sampled", acc_json(before.sampled)}, {"greedy", acc_json(before.greedy)}}},
      {"after", {{"sampled", acc_json(after.sampled)}, {"greedy", acc_json(after.greedy)}}},
      {"seconds", seconds},
      {"phase_seconds", phase_seconds},
      {"processes", dist::world().world()}};
  if (!main_rank()) return summary;
  auto rows = read_metrics_jsonl(join_path(out, "grpo/metrics.jsonl"));
  std::vector<EvalRunResult> runs = {before.sampled, before.greedy, after.sampled, after.greedy};
  write_text_file(join_path(out, "report.html"),
                  training_report_html(rows, "rlvr demo: GRPO on synthetic GSM8K-format problems",
                                       before_after_table(before, after)));
  write_eval_outputs(join_path(out, "eval"), runs);
  write_json_file(join_path(out, "summary.json"), summary);
  std::fprintf(stderr, "\nreport: %s\n", join_path(out, "report.html").c_str());
  return summary;
}

}  // namespace

nlohmann::json run_demo(const DemoOptions& o) {
  RLVR_CHECK(o.grpo_prompts >= 1 && o.num_generations >= 2, "demo: needs >= 1 prompt and >= 2 generations per step");
  const Stopwatch run_clock;
  Stopwatch phase_clock;
  nlohmann::json phase_seconds;
  auto lap = [&](const char* name) {
    phase_seconds[name] = phase_clock.seconds();
    phase_clock.restart();
  };
  const int world = dist::world().world();
  RLVR_CHECK(32 % world == 0 && o.grpo_prompts % world == 0, "demo: ", world, " processes do not divide the "
             "SFT batch (32) and --grpo-prompts (", o.grpo_prompts, ") evenly; use 1, 2, 4 or 8 processes");
  const std::string out = o.out_dir;
  make_dirs(out);

  phase(1, "synthesize GSM8K-format word problems (train and held-out test, disjoint)");
  const DemoData data = write_demo_data(o, out);
  phase(2, "write a tiny Qwen2 model and a byte-level tokenizer");
  const std::string init = write_init_model(out, o.seed);
  dist::world().barrier();  // the files exist before any rank reads them
  lap("data");

  phase(3, "warm start with supervised fine-tuning (rlvr sft)");
  SftTrainer(demo_sft_recipe(o, out, init)).train(false);
  lap("sft");

  phase(4, "evaluate the warm start on the held-out problems");
  Scores before = evaluate_model(join_path(out, "sft"), data.test, data.train, "after SFT", o.seed, o.eval_batch);
  lap("eval_before");

  phase(5, "train with GRPO: gsm8k_format + gsm8k_correct (rlvr train)");
  GrpoTrainer(demo_grpo_recipe(o, out)).train(false);
  lap("grpo");

  phase(6, "evaluate after GRPO and write the report");
  Scores after = evaluate_model(join_path(out, "grpo"), data.test, data.train, "after GRPO", o.seed, o.eval_batch);
  lap("eval_after");
  const double seconds = run_clock.seconds();
  return write_demo_report(out, before, after, seconds, phase_seconds);
}

}  // namespace rlvr
