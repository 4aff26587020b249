// Token sampling: repetition penalty, temperature, top-k, top-p, min-p (HF logits-processor
// order), then an inverse-CDF draw from a per-completion counter-based random stream, so a
// completion's tokens never depend on how sequences are batched.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace rlvr {

struct SamplingParams {
  double temperature = 1.0;         // 0 = greedy
  int64_t top_k = 0;                // 0 = off
  double top_p = 1.0;               // 1 = off
  double min_p = 0.0;               // 0 = off
  double repetition_penalty = 1.0;  // 1 = off (HF: divide positive logits, multiply negative)
};

// Uniform in [0, 1) from (seed, prompt, completion, step): SplitMix64 over a mixed key.
double stream_uniform(uint64_t seed, int64_t prompt, int64_t completion, int64_t step);

struct SampleResult {
  torch::Tensor tokens;    // (M) int64
  torch::Tensor logprobs;  // (M) float32, log-prob of each token under the distribution used
};

// logits: (M, V) float32 or bfloat16. seen: (M, V) bool tokens already in each sequence (only
// read when repetition_penalty != 1). uniforms: (M) float64 draws. Greedy when temperature == 0:
// the argmax, with its log_softmax of the raw logits. On CPU without top-k / top-p / min-p this
// runs the fused row kernel (one pass over each row for the max, one for exp and the cumulative
// mass in double, no (M, V) temporaries); otherwise sample_tokens_reference.
SampleResult sample_tokens(torch::Tensor logits, const SamplingParams& p, const torch::Tensor& seen,
                           const torch::Tensor& uniforms);

// The same draw from tensor ops (any device, every filter): the float32 log_softmax, its exp
// cumulated in float64, a sorted search for u * total. The fast path must agree with it.
SampleResult sample_tokens_reference(torch::Tensor logits, const SamplingParams& p,
                                     const torch::Tensor& seen, const torch::Tensor& uniforms);

}  // namespace rlvr
