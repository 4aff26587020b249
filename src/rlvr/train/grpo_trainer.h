// GrpoTrainer: `rlvr train`. step() is the GRPO step of grpo-spec.md section 2 and reads like it:
// next batch -> generate -> score -> advantages -> per micro-batch policy log-probs -> loss ->
// backward -> optimizer step. Its parts live beside it: grpo_rollout.cpp (batch, generation,
// scoring, old and reference log-probs), completion_batch.h (the forward-path choice),
// grpo_metrics.h (what is logged). The run loop (run_loop.h) owns the run directory.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rlvr/data/cursor.h"
#include "rlvr/data/dataset.h"
#include "rlvr/data/prompt.h"
#include "rlvr/engine/engine.h"
#include "rlvr/rewards/reward.h"
#include "rlvr/rl/grpo.h"
#include "rlvr/train/completion_batch.h"
#include "rlvr/train/grpo_metrics.h"
#include "rlvr/train/policy.h"
#include "rlvr/train/recipe.h"
#include "rlvr/train/rollout.h"
#include "rlvr/train/run_loop.h"

namespace rlvr {

// The recipe's reward functions: each name of reward_funcs built with its reward_options (external
// processes start here). A reward_options name missing from reward_funcs, or reward_weights of
// another length, is an rlvr::Error naming the key.
std::vector<std::unique_ptr<RewardFunction>> make_rewards(const GrpoRecipe& r);

class GrpoTrainer : public TrainingJob {
 public:
  // rewards: reward functions as objects (a library caller's own, as TRL takes callables), one per
  // name of reward_funcs, in order; empty = make_rewards(recipe).
  explicit GrpoTrainer(GrpoRecipe recipe, std::vector<std::unique_ptr<RewardFunction>> rewards = {});
  // The recipe's run options (run_loop.h); the CLI adds resume, --set keys and the command.
  RunOptions run_options() const;
  // run_training with run_options(): to max_steps (or the epochs); with resume, continues from
  // the newest checkpoint.
  TrainResult train(bool resume);
  // The ids the rollout prompts these problems with (the one prompt builder; tests compare it
  // with `rlvr eval`'s).
  PromptIds prompt_ids(const std::vector<Problem>& problems) const;  // builds their prompts, then tokenize()
  const GrpoRecipe& recipe() const { return r_; }

  // TrainingJob. step(): one optimizer step (0-based); a generation batch every num_iterations
  // steps; a non-finite loss or gradient norm skips the update.
  int64_t total_steps() const override { return total_steps_; }
  double steps_per_epoch() const override;
  int64_t global_batch() const override;  // completions per step over all ranks
  StepReport step(int64_t step) override;
  bool can_checkpoint_after(int64_t global_step) const override;
  nlohmann::json state() const override;
  void restore(const nlohmann::json& state) override;
  Policy& policy() override { return policy_; }
  torch::optim::Optimizer& optimizer() override { return *opt_; }

 private:
  // grpo_rollout.cpp: the parts of a step before the update.
  PromptIds tokenize(const std::vector<PromptParts>& parts) const;  // the one prompt builder
  Rollout generate(int64_t step);      // next batch -> G completions per prompt
  void score(Rollout& ro);             // rewards -> group advantages
  void reference_logprobs(Rollout& ro);  // old (num_iterations > 1) and reference (beta > 0)
  // Log-probs of completions [b0, b1) under `model` (the policy when null).
  SequenceLogprobs logprobs(const Rollout& ro, int64_t b0, int64_t b1, bool entropy, CausalLM* model = nullptr);
  torch::Tensor logprobs_no_grad(const Rollout& ro, CausalLM* model);  // this rank's rows, micro-batched
  // The step's metrics (with validation every eval_steps), summary and sample rows.
  StepReport report(int64_t step, bool fresh, bool applied, const LossTotals& totals, Metrics m);
  Metrics validate();  // greedy on the validation split through the evaluator
  int64_t prompts_per_step() const;

  GrpoRecipe r_;
  Policy policy_;
  CausalLM ref_model_{nullptr};  // beta > 0 without LoRA: frozen starting weights
  std::unique_ptr<torch::optim::Optimizer> opt_;
  std::unique_ptr<Engine> engine_;
  std::vector<Problem> train_, val_;
  std::unique_ptr<PromptBuilder> prompts_;
  DataCursor cursor_;
  std::vector<std::unique_ptr<RewardFunction>> rewards_;
  std::vector<double> weights_;
  GrpoLossOptions loss_opts_;
  int64_t total_steps_ = 0;
  int64_t warmup_steps_ = 0;
  int64_t cumulative_tokens_ = 0;
  Rollout ro_;
};

}  // namespace rlvr
