// SftTrainer: `rlvr sft`. Supervised fine-tuning with the loss on completion tokens only:
// solved problems (GSM8K or synthetic; completion = the published solution format + EOS) or
// JSONL prompt/completion pairs. Same policy, optimizer and run loop as GRPO.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "rlvr/data/cursor.h"
#include "rlvr/train/policy.h"
#include "rlvr/train/recipe.h"
#include "rlvr/train/run_loop.h"

namespace rlvr {

class SftTrainer : public TrainingJob {
 public:
  explicit SftTrainer(SftRecipe recipe);
  // The recipe's run options (run_loop.h); the CLI adds resume, --set keys and the command.
  RunOptions run_options() const;
  TrainResult train(bool resume);  // run_training with run_options()

  // TrainingJob: one step is one optimizer update over per_device_train_batch_size *
  // gradient_accumulation_steps examples.
  int64_t total_steps() const override { return total_steps_; }
  double steps_per_epoch() const override;
  int64_t global_batch() const override;  // sequences per step over all ranks
  StepReport step(int64_t step) override;
  nlohmann::json state() const override { return {{"cursor", cursor_.to_json()}}; }
  void restore(const nlohmann::json& state) override;
  Policy& policy() override { return policy_; }
  torch::optim::Optimizer& optimizer() override { return *opt_; }

 private:
  struct Example {
    std::vector<int64_t> prompt, completion;  // token ids; completion ends with EOS
  };

  SftRecipe r_;
  Policy policy_;
  std::unique_ptr<torch::optim::Optimizer> opt_;
  std::vector<Example> train_;
  DataCursor cursor_;
  int64_t total_steps_ = 0, warmup_steps_ = 0;
};

}  // namespace rlvr
