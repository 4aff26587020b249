// SftTrainer: `rlvr sft`. Supervised fine-tuning with the loss on completion tokens only:
// solved problems (GSM8K or synthetic; completion = the published solution format + EOS) or
// JSONL prompt/completion pairs. Same policy, optimizer, checkpoints and metrics as GRPO.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "rlvr/data/cursor.h"
#include "rlvr/train/run_loop.h"
#include "rlvr/train/policy.h"
#include "rlvr/train/recipe.h"

namespace rlvr {

class SftTrainer {
 public:
  explicit SftTrainer(SftRecipe recipe);
  TrainResult train(bool resume);
  int64_t total_steps() const { return total_steps_; }

 private:
  struct Example {
    std::vector<int64_t> prompt, completion;  // token ids; completion ends with EOS
  };
  std::map<std::string, double> step(int64_t step);

  SftRecipe r_;
  Policy policy_;
  std::unique_ptr<torch::optim::AdamW> opt_;
  std::vector<Example> train_;
  DataCursor cursor_;
  int64_t total_steps_ = 0, warmup_steps_ = 0;
};

}  // namespace rlvr
