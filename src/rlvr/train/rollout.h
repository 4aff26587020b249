// One GRPO generation batch and what is computed on it before the update.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "rlvr/data/prompt.h"
#include "rlvr/engine/engine.h"
#include "rlvr/engine/prompt_request.h"

namespace rlvr {

// One generation batch: P prompts x G completions, kept for num_iterations updates.
struct Rollout {
  std::vector<int64_t> problems;          // (P) indices into the train split
  std::vector<PromptParts> prompts;       // (P)
  std::vector<std::string> answers;       // (P) reference answers
  PromptIds prompt_ids;                   // (P) the ids the engine and the training forward see
  std::vector<Completion> completions;    // (N = P * G), G consecutive per prompt
  torch::Tensor rewards, advantages;      // (N) float32 weighted reward totals, advantages
  torch::Tensor old_logp, ref_logp;       // (N, Tc) float32; undefined when not needed
  double loss_tokens = 0;                 // completion tokens that count in the loss (dapo's divisor)
  std::map<std::string, double> metrics;  // rewards/..., reward, completions/..., time/...
  int64_t completion_tokens = 0, prompt_tokens = 0;
  int64_t size() const { return static_cast<int64_t>(completions.size()); }
};

}  // namespace rlvr
