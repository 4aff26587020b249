// The embedded default (`rlvr demo`, `make demo`): synthetic GSM8K-format problems, a tiny
// byte-level Qwen2 written from scratch, an SFT warm start, evaluation (sampled and greedy),
// GRPO with the two published rewards through the same trainer as `rlvr train`, evaluation
// again, and an HTML report. Everything on CPU in minutes, deterministic for a seed.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace rlvr {

struct DemoOptions {
  std::string out_dir = "demo-out";
  uint64_t seed = 1;
  int64_t train_problems = 4000;  // synthetic train split (questions disjoint from test)
  int64_t test_problems = 800;    // held-out evaluation problems
  int64_t min_steps = 1;          // arithmetic steps per problem (SynthOptions): one step leaves a
  int64_t max_steps = 1;          // warm start that is right greedily but not yet when sampling

  int64_t max_number = 9;         // numbers in the questions are 1..max_number
  int64_t sft_steps = 200;        // warm start: partly right, so sampling finds right answers
  double sft_lr = 2e-3;
  int64_t grpo_steps = 200;       // optimizer steps
  double grpo_lr = 1e-4;          // higher rates make completions run on past the answer
  int64_t grpo_warmup_steps = 10; // linear warmup, then constant: Adam's first full-size steps
                                  // move every weight by ~lr and cost greedy accuracy
  int64_t grpo_prompts = 16;      // prompts per step
  int64_t num_generations = 8;    // completions per prompt (the group)
  int64_t num_iterations = 1;     // optimizer steps per generation batch
  int64_t eval_batch = 128;       // sequences decoded at once in evaluation
};

// Runs every phase with progress on stderr; returns the summary
// {"before":{"sampled":{"accuracy","ci95"},"greedy":{...}},"after":{...},"seconds":s,
//  "phase_seconds":{"data","sft","eval_before","grpo","eval_after"}}.
nlohmann::json run_demo(const DemoOptions& opt);

}  // namespace rlvr
