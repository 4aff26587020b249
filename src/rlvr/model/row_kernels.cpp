// Row kernels (see row_kernels.h). The loops are written so the compiler vectorises them: a
// polynomial exp with no calls, reductions kept in one vector of kLanes partial results (which also
// fixes their order, so results never depend on how rows are split over threads), bf16 handled
// as bits. Each kernel is compiled three times (AVX-512, AVX2+FMA, baseline) and the widest one
// the CPU supports is picked once. This file is built with -O3 and without the torch PCH.
#include "rlvr/model/row_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace rlvr::kernels {

namespace {

constexpr int kLanes = 16;
constexpr float kMaskedScore = -1e30f;  // the reference path's additive mask

#define RLVR_INLINE inline __attribute__((always_inline))

RLVR_INLINE float load(float x) { return x; }
RLVR_INLINE float load(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
RLVR_INLINE void store(float* p, float x) { *p = x; }
// float -> bf16, round to nearest even (NaN stays NaN).
RLVR_INLINE void store(uint16_t* p, float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  *p = static_cast<uint16_t>(x != x ? 0x7FC0u : rounded);
}

// 16 floats as one GCC/Clang vector: the compiler lowers it to whatever the target has.
typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
typedef uint32_t vu __attribute__((vector_size(64)));
typedef float vf8 __attribute__((vector_size(32)));
typedef double vd8 __attribute__((vector_size(64)));
static_assert(sizeof(vf) == kLanes * sizeof(float), "kLanes floats per vector");

RLVR_INLINE vf splat(float x) { return vf{} + x; }
RLVR_INLINE vf vload(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
RLVR_INLINE void vstore(float* p, const vf& v) { std::memcpy(p, &v, sizeof v); }
RLVR_INLINE vf vmax(const vf& a, const vf& b) { return a > b ? a : b; }

// exp(x): x = n ln2 + r with |r| <= ln2 / 2, e^r by its degree-7 Taylor polynomial (truncation
// below 1e-8 relative), 2^n through the exponent bits.
RLVR_INLINE vf exp_poly(const vf& x) {
  vf xc = x > splat(88.0f) ? splat(88.0f) : x;
  xc = xc < splat(-88.0f) ? splat(-88.0f) : xc;
  const vf t = xc * 1.44269504088896341f;
  const vf n = (t + 12582912.0f) - 12582912.0f;  // round to nearest: 1.5 * 2^23
  vf r = xc - n * 0.693145751953125f;            // ln2, high bits (exact product)
  r = r - n * 1.42860682030941723e-6f;           // ln2, low bits
  vf p = splat(1.98412698e-4f);                  // 1/7!
  p = p * r + 1.38888889e-3f;
  p = p * r + 8.33333333e-3f;
  p = p * r + 4.16666667e-2f;
  p = p * r + 1.66666667e-1f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const vu bits = (vu)((__builtin_convertvector(n, vi) + 127) << 23);
  const vf y = p * (vf)bits;
  return x < splat(-87.0f) ? splat(0.0f) : y;
}

// Rows are processed in whole vectors: scratch rows are padded to a multiple of kLanes with -inf
// (exp gives 0, the max ignores it).
RLVR_INLINE int64_t padded(int64_t n) { return (n + kLanes - 1) / kLanes * kLanes; }
RLVR_INLINE void pad(float* s, int64_t n) {
  for (int64_t i = n; i < padded(n); ++i) s[i] = -std::numeric_limits<float>::infinity();
}

RLVR_INLINE float hmax(const vf& v) {
  float r = v[0];
  for (int l = 1; l < kLanes; ++l) r = v[l] > r ? v[l] : r;
  return r;
}
RLVR_INLINE float hsum(const vf& v) {
  float r = 0;
  for (int l = 0; l < kLanes; ++l) r += v[l];
  return r;
}

// Max of s[0, n) (n a multiple of kLanes).
RLVR_INLINE float max_of(const float* s, int64_t n) {
  vf m = splat(-std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < n; i += kLanes) m = vmax(m, vload(s + i));
  return hmax(m);
}

// s[i] = exp(s[i] - m) over [0, n) (n a multiple of kLanes); returns the sum.
RLVR_INLINE float exp_sum(float* s, int64_t n, float m) {
  vf acc = splat(0.0f);
  for (int64_t i = 0; i < n; i += kLanes) {
    const vf e = exp_poly(vload(s + i) - m);
    vstore(s + i, e);
    acc += e;
  }
  return hsum(acc);
}

RLVR_INLINE void exp_batch(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) vstore(y + i, exp_poly(vload(x + i)));
  if (i < n) {
    float tail[kLanes] = {};
    std::memcpy(tail, x + i, (n - i) * sizeof(float));
    const vf e = exp_poly(vload(tail));
    std::memcpy(y + i, &e, (n - i) * sizeof(float));
  }
}

template <typename T>
RLVR_INLINE void softmax_two_part_impl(T* __restrict a, int64_t P, T* __restrict b, int64_t S,
                                       const int64_t* __restrict kpos, int64_t qpos, float scale,
                                       float* __restrict s) {
  for (int64_t i = 0; i < P; ++i) s[i] = load(a[i]) * scale;
  float* __restrict sb = s + P;
  for (int64_t j = 0; j < S; ++j) {
    const bool visible = kpos[j] >= 0 && kpos[j] <= qpos;
    sb[j] = visible ? load(b[j]) * scale : kMaskedScore;
  }
  pad(s, P + S);
  const float m = max_of(s, padded(P + S));
  const float inv = 1.0f / exp_sum(s, padded(P + S), m);
  for (int64_t i = 0; i < P; ++i) store(&a[i], s[i] * inv);
  for (int64_t j = 0; j < S; ++j) store(&b[j], sb[j] * inv);
}

template <typename T>
RLVR_INLINE RowSample sample_row_impl(const T* __restrict x, int64_t V, double temperature, double u,
                                      float* __restrict y) {
  const bool greedy = temperature <= 0;
  const float t = greedy ? 1.0f : static_cast<float>(temperature);
  if (greedy || t == 1.0f) {
    for (int64_t i = 0; i < V; ++i) y[i] = load(x[i]);
  } else {
    for (int64_t i = 0; i < V; ++i) y[i] = load(x[i]) / t;
  }
  pad(y, V);
  const float m = max_of(y, padded(V));
  int64_t token = 0;
  if (greedy)
    while (token < V - 1 && y[token] != m) ++token;  // first maximum, like argmax
  // y[i] = exp(y[i] - m); block sums in double.
  constexpr int64_t kBlock = 1024;
  const int64_t nb = (V + kBlock - 1) / kBlock;
  std::vector<double> block(nb);
  double total = 0;
  for (int64_t k = 0; k < nb; ++k) {
    const int64_t end = std::min(padded(V), (k + 1) * kBlock);
    vd8 acc = vd8{} + 0.0;
    for (int64_t i = k * kBlock; i < end; i += kLanes) {
      const vf e = exp_poly(vload(y + i) - m);
      vstore(y + i, e);
      vf8 lo, hi;
      std::memcpy(&lo, y + i, sizeof lo);
      std::memcpy(&hi, y + i + kLanes / 2, sizeof hi);
      acc += __builtin_convertvector(lo, vd8) + __builtin_convertvector(hi, vd8);
    }
    double sum = 0;
    for (int l = 0; l < kLanes / 2; ++l) sum += acc[l];
    block[k] = sum;
    total += sum;
  }
  if (!greedy) {
    const double target = u * total;
    double cum = 0;
    int64_t k = 0;
    while (k < nb - 1 && cum + block[k] <= target) cum += block[k++];
    token = -1;
    for (int64_t i = k * kBlock, end = std::min(V, (k + 1) * kBlock); i < end; ++i) {
      cum += static_cast<double>(y[i]);
      if (cum > target) {
        token = i;
        break;
      }
    }
    if (token < 0) {  // u * total rounded up to the total: the last token with mass
      token = V - 1;
      while (token > 0 && y[token] == 0.0f) --token;
    }
  }
  const float yt = greedy || t == 1.0f ? load(x[token]) : load(x[token]) / t;
  const double lp = static_cast<double>(yt) - static_cast<double>(m) - std::log(total);
  return {token, static_cast<float>(lp)};
}

// bf16 <-> float for whole vectors (round to nearest even, NaN kept).
typedef uint16_t vh __attribute__((vector_size(32)));
RLVR_INLINE vf vload(const uint16_t* p) {
  vh h;
  std::memcpy(&h, p, sizeof h);
  return (vf)(__builtin_convertvector(h, vu) << 16);
}
RLVR_INLINE vu bf16_bits(const vf& x) {
  const vu bits = (vu)x;
  const vu rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  return x != x ? vu{} + 0x7FC0u : rounded;
}
RLVR_INLINE void vstore(uint16_t* p, const vf& x) {
  const vh h = __builtin_convertvector(bf16_bits(x), vh);
  std::memcpy(p, &h, sizeof h);
}
RLVR_INLINE vf round_bf16(const vf& x) { return (vf)(bf16_bits(x) << 16); }
RLVR_INLINE vf round_to(const vf& x, const float*) { return x; }
RLVR_INLINE vf round_to(const vf& x, const uint16_t*) { return round_bf16(x); }

// out = silu(g) * u with silu(g) = g / (1 + exp(-g)), rounded where torch's ops round: in bf16
// after exp, after 1 + e, after the division and after the product (torch's bf16 silu works in
// bf16 vectors), so the result is bit-identical to silu(g) * u up to the exp's last float bit.
template <typename T>
RLVR_INLINE void silu_mul_impl(const T* g, const T* u, T* out, int64_t n) {
  auto block = [](const T* gp, const T* up, T* op) {
    const vf x = vload(gp);
    const vf e = round_to(exp_poly(-x), gp);
    const vf s = round_to(x / round_to(1.0f + e, gp), gp);
    vstore(op, s * vload(up));
  };
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) block(g + i, u + i, out + i);
  if (i < n) {
    T gt[kLanes] = {}, ut[kLanes] = {}, ot[kLanes];
    std::memcpy(gt, g + i, (n - i) * sizeof(T));
    std::memcpy(ut, u + i, (n - i) * sizeof(T));
    block(gt, ut, ot);
    std::memcpy(out + i, ot, (n - i) * sizeof(T));
  }
}

// Instantiations per instruction set.
#define RLVR_DEFINE_KERNELS(suffix, attr)                                                        \
  attr void exp_##suffix(const float* x, float* y, int64_t n) {                                 \
    exp_batch(x, y, n);                                                                          \
  }                                                                                              \
  attr void softmax_f32_##suffix(float* a, int64_t P, float* b, int64_t S, const int64_t* kpos, \
                                 int64_t qpos, float scale, float* s) {                         \
    softmax_two_part_impl(a, P, b, S, kpos, qpos, scale, s);                                    \
  }                                                                                              \
  attr void softmax_bf16_##suffix(uint16_t* a, int64_t P, uint16_t* b, int64_t S,               \
                                  const int64_t* kpos, int64_t qpos, float scale, float* s) {   \
    softmax_two_part_impl(a, P, b, S, kpos, qpos, scale, s);                                    \
  }                                                                                              \
  attr RowSample sample_f32_##suffix(const float* x, int64_t V, double t, double u, float* y) {  \
    return sample_row_impl(x, V, t, u, y);                                                       \
  }                                                                                              \
  attr RowSample sample_bf16_##suffix(const uint16_t* x, int64_t V, double t, double u,          \
                                      float* y) {                                                \
    return sample_row_impl(x, V, t, u, y);                                                       \
  }                                                                                              \
  attr void silu_mul_f32_##suffix(const float* g, const float* u, float* o, int64_t n) {         \
    silu_mul_impl(g, u, o, n);                                                                   \
  }                                                                                              \
  attr void silu_mul_bf16_##suffix(const uint16_t* g, const uint16_t* u, uint16_t* o, int64_t n) { \
    silu_mul_impl(g, u, o, n);                                                                   \
  }

#if defined(__x86_64__) && defined(__GNUC__)
RLVR_DEFINE_KERNELS(avx512, __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))))
RLVR_DEFINE_KERNELS(avx2, __attribute__((target("avx2,fma"))))
#endif
RLVR_DEFINE_KERNELS(base, )

struct Table {
  decltype(&exp_base) exp;
  decltype(&softmax_f32_base) softmax_f32;
  decltype(&softmax_bf16_base) softmax_bf16;
  decltype(&sample_f32_base) sample_f32;
  decltype(&sample_bf16_base) sample_bf16;
  decltype(&silu_mul_f32_base) silu_mul_f32;
  decltype(&silu_mul_bf16_base) silu_mul_bf16;
};

Table pick() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return {exp_avx512,        softmax_f32_avx512,  softmax_bf16_avx512,  sample_f32_avx512,
            sample_bf16_avx512, silu_mul_f32_avx512, silu_mul_bf16_avx512};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {exp_avx2,        softmax_f32_avx2,  softmax_bf16_avx2,  sample_f32_avx2,
            sample_bf16_avx2, silu_mul_f32_avx2, silu_mul_bf16_avx2};
#endif
  return {exp_base,        softmax_f32_base,  softmax_bf16_base,  sample_f32_base,
          sample_bf16_base, silu_mul_f32_base, silu_mul_bf16_base};
}

const Table& table() {
  static const Table t = pick();
  return t;
}

}  // namespace

void exp_approx(const float* x, float* y, int64_t n) { table().exp(x, y, n); }

void softmax_two_part(float* a, int64_t P, float* b, int64_t S, const int64_t* kpos, int64_t qpos,
                      float scale, float* scratch) {
  table().softmax_f32(a, P, b, S, kpos, qpos, scale, scratch);
}

void softmax_two_part(uint16_t* a, int64_t P, uint16_t* b, int64_t S, const int64_t* kpos,
                      int64_t qpos, float scale, float* scratch) {
  table().softmax_bf16(a, P, b, S, kpos, qpos, scale, scratch);
}

void silu_mul(const float* g, const float* u, float* out, int64_t n) { table().silu_mul_f32(g, u, out, n); }
void silu_mul(const uint16_t* g, const uint16_t* u, uint16_t* out, int64_t n) {
  table().silu_mul_bf16(g, u, out, n);
}

RowSample sample_row(const float* logits, int64_t V, double temperature, double u, float* scratch) {
  return table().sample_f32(logits, V, temperature, u, scratch);
}

RowSample sample_row(const uint16_t* logits, int64_t V, double temperature, double u,
                     float* scratch) {
  return table().sample_bf16(logits, V, temperature, u, scratch);
}

}  // namespace rlvr::kernels
