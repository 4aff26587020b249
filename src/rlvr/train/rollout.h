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

// One generation batch: P prompts x G completions, kept for num_iterations updates. With several
// ranks (data parallel) every rank holds the whole batch's problems, completions, rewards and
// advantages; it generated, and trains on, only its own share of whole groups: the prompts
// [first_prompt, first_prompt + Pr) and the rows [begin, end).
struct Rollout {
  std::vector<int64_t> problems;          // (P) indices into the train split
  std::vector<PromptParts> prompts;       // (P)
  std::vector<std::string> answers;       // (P) reference answers
  int64_t first_prompt = 0;               // this rank's first prompt
  PromptIds prompt_ids;                   // (Pr) this rank's prompts' ids (engine and training forward)
  int64_t begin = 0, end = 0;             // this rank's rows
  std::vector<Completion> completions;    // (N = P * G), G consecutive per prompt
  torch::Tensor rewards, advantages;      // (N) float32 weighted reward totals, advantages
  torch::Tensor old_logp, ref_logp;       // (end - begin, Tc) float32; undefined when not needed
  double loss_tokens = 0;                 // completion tokens that count in the loss (dapo's divisor)
  std::map<std::string, double> metrics;  // rewards/..., reward, completions/..., time/...
  int64_t completion_tokens = 0, prompt_tokens = 0;
  int64_t size() const { return static_cast<int64_t>(completions.size()); }
  // The ids completion `row` was prompted with (a row of this rank).
  const std::vector<int64_t>& prompt_of(int64_t row) const {
    return prompt_ids.full[completions[row].prompt_index - first_prompt];
  }
};

}  // namespace rlvr
