// Torch-free CPU row kernels for inference, on raw float / bf16 (uint16_t) rows: the softmax of an
// attention row made of a shared-prefix part and a per-row slot part (no concatenation), the
// SwiGLU product silu(g) * u, and one draw from softmax(logits / temperature) over a whole
// vocabulary row. Written as plain loops the compiler vectorises (cloned for AVX-512 / AVX2 /
// baseline x86-64 and picked at load time); the callers split rows over threads. Only inference uses them (KV-cache attention, the MLP when
// autograd is off, the sampler).
#pragma once
#include <cstdint>

namespace rlvr::kernels {

// Floats of scratch a kernel needs for a row of n values (n rounded up to whole vectors).
inline int64_t scratch_floats(int64_t n) { return (n + 15) / 16 * 16; }

// exp(x) for x <= 88 with relative error < 3e-7; 0 for x < -87 (below the float normal range).
// Batch form over n values (the kernels inline the same code).
void exp_approx(const float* x, float* y, int64_t n);

// One attention softmax row: scores a[0, P) (the shared prefix, always visible) and b[0, S) (the
// row's slots; slot s is visible when 0 <= kpos[s] <= qpos). Probabilities of softmax(scale *
// scores) overwrite a and b; hidden slots get 0. With no visible key at all (only possible when
// P == 0) every slot gets 1/S, as the additive -1e30 mask of the reference path gives.
// scratch: scratch_floats(P + S) floats.
void softmax_two_part(float* a, int64_t P, float* b, int64_t S, const int64_t* kpos, int64_t qpos,
                      float scale, float* scratch);
void softmax_two_part(uint16_t* a, int64_t P, uint16_t* b, int64_t S, const int64_t* kpos,
                      int64_t qpos, float scale, float* scratch);

// out = silu(g) * u elementwise (the SwiGLU gate), rounded where torch's silu and product round.
void silu_mul(const float* g, const float* u, float* out, int64_t n);
void silu_mul(const uint16_t* g, const uint16_t* u, uint16_t* out, int64_t n);

// One token from softmax(logits / temperature) by inverse CDF at u in [0, 1), and its log-prob;
// temperature <= 0: the argmax (first of ties) with its log_softmax. The cumulative sums are in
// double; the draw is the first token whose cumulative mass exceeds u * total. scratch: scratch_floats(V) floats.
struct RowSample {
  int64_t token;
  float logprob;
};
RowSample sample_row(const float* logits, int64_t V, double temperature, double u, float* scratch);
RowSample sample_row(const uint16_t* logits, int64_t V, double temperature, double u, float* scratch);

}  // namespace rlvr::kernels
