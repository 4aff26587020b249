// Prompt + completion token sequences -> one right-padded forward batch, and the log-probs of
// the completion tokens under the model (chunked over the vocabulary, never (M, T, V)).
// Shared by the GRPO and SFT trainers.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "rlvr/model/qwen2.h"

namespace rlvr {

struct CompletionBatch {
  torch::Tensor ids, positions;  // (M, T) int64, right-padded; positions -1 on padding
  torch::Tensor rows, cols;      // (M, Tc) int64: the hidden state predicting completion token j
  torch::Tensor targets;         // (M, Tc) int64 completion tokens (0 on padding)
  torch::Tensor mask;            // (M, Tc) float32: 1 on completion tokens that count in the loss
};

// prompts[i] + completions[i] for each row; Tc >= every completion length (pads the token axis
// so rows of several micro-batches line up); keep[i] = false masks row i out of the loss.
CompletionBatch make_completion_batch(const std::vector<const std::vector<int64_t>*>& prompts,
                                      const std::vector<const std::vector<int64_t>*>& completions,
                                      int64_t Tc, const std::vector<bool>& keep);

// (M, Tc) float32 log p(target) at `temperature`; `entropy` (M, Tc) when given. Runs with the
// caller's grad mode.
torch::Tensor completion_logprobs(CausalLM& model, const CompletionBatch& b, const torch::Device& dev,
                                  int64_t chunk_tokens, double temperature, torch::Tensor* entropy);

}  // namespace rlvr
