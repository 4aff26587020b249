// Per-token log-probabilities (and entropies) of target tokens from final hidden states and the
// lm_head weight, computed over row chunks so the (N, T, V) logits never exist at once, with a
// memory-lean backward that recomputes each chunk's softmax. No model code here.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace rlvr {

// hidden:  (N, T, C) final-norm hidden states, any floating dtype
// weight:  (V, C) lm_head weight, any floating dtype (frozen or trainable)
// targets: (N, T) int64 token ids in [0, V) (put any valid id on padding and mask it later);
//          hidden[:, t] is the state that predicts targets[:, t] (the caller does the shift by one)
// Returns (N, T) float32 log p(target | logits / temperature) (float64 when hidden and weight are
// both float64, for gradient checks). If `entropy` is given it receives the (N, T) entropy of that
// softmax in the same dtype, without grad. Logits and softmax are computed in float32
// over chunks of `chunk_tokens` rows of N*T; backward recomputes them from hidden, weight and the
// saved per-row logsumexp and accumulates grad_weight per chunk (skipped when weight needs no
// grad).
torch::Tensor token_logprobs(const torch::Tensor& hidden, const torch::Tensor& weight,
                             const torch::Tensor& targets, int64_t chunk_tokens,
                             torch::Tensor* entropy = nullptr, double temperature = 1.0);

// The slow, obviously correct reference: materialises (N, T, V) float32 logits. Tests compare
// token_logprobs against it; never call it on real vocabularies.
torch::Tensor token_logprobs_reference(const torch::Tensor& hidden, const torch::Tensor& weight,
                                       const torch::Tensor& targets,
                                       torch::Tensor* entropy = nullptr, double temperature = 1.0);

}  // namespace rlvr
