// GrpoTrainer: `rlvr train`. One step reads like the algorithm (design.md): generate B*G
// completions with the engine (shared-prefix KV), score them, group advantages, chunked policy
// log-probs, reference log-probs when beta > 0 (LoRA: adapters off; full fine-tuning: a frozen
// copy of the starting weights), clipped GRPO loss, AdamW.
// Validation lives here too; the run directory, resume, checkpoints and logs are the run loop's
// (run_loop.h), which drives this trainer as a TrainingJob.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rlvr/data/cursor.h"
#include "rlvr/data/dataset.h"
#include "rlvr/data/prompt.h"
#include "rlvr/engine/engine.h"
#include "rlvr/rl/reward.h"
#include "rlvr/train/metrics_log.h"
#include "rlvr/train/policy.h"
#include "rlvr/train/recipe.h"
#include "rlvr/train/run_loop.h"

namespace rlvr {

// One generation batch, kept for num_iterations updates.
struct Rollout {
  std::vector<std::vector<int64_t>> prompt_ids;  // (N) full prompt tokens of each completion
  std::vector<Completion> completions;           // (N), G consecutive per prompt
  std::vector<std::string> prompts;              // (N) prompt text
  std::vector<std::string> answers;              // (N) reference answers
  torch::Tensor rewards;                         // (N) float32 weighted totals
  torch::Tensor advantages;                      // (N) float32
  torch::Tensor old_logp, ref_logp;              // (N, Tc) float32; undefined when not needed
  std::map<std::string, double> reward_metrics;  // rewards/<name>/mean, std, errors, ...
  double generate_s = 0, score_s = 0, logprob_s = 0;  // logprob_s: old + reference passes
  int64_t completion_tokens = 0, prompt_tokens = 0;
};

class GrpoTrainer : public TrainingJob {
 public:
  explicit GrpoTrainer(GrpoRecipe recipe);
  // The recipe's run options (run_loop.h); the CLI adds resume, --set keys and the command.
  RunOptions run_options() const;
  // run_training with run_options(): to max_steps (or the epochs); with resume, continues from
  // the newest checkpoint.
  TrainResult train(bool resume);
  const GrpoRecipe& recipe() const { return r_; }

  // TrainingJob: one step generates a batch every num_iterations steps and updates the policy.
  int64_t total_steps() const override { return total_steps_; }
  double steps_per_epoch() const override;
  StepReport step(int64_t step) override;
  bool can_checkpoint_after(int64_t global_step) const override;
  nlohmann::json state() const override;
  void restore(const nlohmann::json& state) override;
  Policy& policy() override { return policy_; }
  torch::optim::Optimizer& optimizer() override { return *opt_; }

 private:
  Rollout rollout(int64_t step);
  // The engine request for these prompts: the prefix most of them share (the few-shot block) is
  // the request's shared prefix, prefilled once, unless truncation to max_prompt_length cut into
  // it. Fills `full` with each prompt's whole token ids (prefix + suffix, truncated as TRL does).
  GenerateRequest prompt_request(const std::vector<PromptParts>& parts,
                                 std::vector<std::vector<int64_t>>& full);
  // Log-probs of the completion tokens, (N, Tc) float32, in micro-batches; with_grad=false for
  // old/ref passes. Fills `entropy` (N, Tc) when given. Adds the token positions it ran through
  // the model (a shared prefix counts once, padding counts) to *forward_tokens when given.
  // model: the policy when null (else e.g. the full-fine-tuning KL reference).
  torch::Tensor completion_logprobs(const Rollout& ro, int64_t begin, int64_t end, bool with_grad,
                                    torch::Tensor* entropy, torch::Tensor* mask,
                                    int64_t* forward_tokens = nullptr, CausalLM* model = nullptr);
  std::map<std::string, double> optimize(Rollout& ro, int64_t step);
  std::map<std::string, double> validate(int64_t step);
  int64_t prompts_per_step() const;

  GrpoRecipe r_;
  Policy policy_;
  CausalLM ref_model_{nullptr};  // beta > 0 without LoRA: frozen starting weights
  std::unique_ptr<torch::optim::AdamW> opt_;
  std::unique_ptr<Engine> engine_;
  std::vector<Problem> train_, val_, test_;
  std::unique_ptr<PromptBuilder> prompts_;
  DataCursor cursor_;
  std::vector<std::unique_ptr<RewardFunction>> rewards_;
  std::vector<double> weights_;
  std::map<std::string, std::vector<int64_t>> token_cache_;  // prefix text -> ids
  int64_t total_steps_ = 0;
  int64_t warmup_steps_ = 0;
  int64_t cumulative_tokens_ = 0;
  Rollout current_;
};

}  // namespace rlvr
