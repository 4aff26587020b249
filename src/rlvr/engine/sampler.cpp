// Sampling transforms and the batch-independent random draw: a fused CPU path for plain
// sampling / greedy and the tensor-op reference that handles every filter.
#include "rlvr/engine/sampler.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <limits>

#include "rlvr/model/row_kernels.h"

namespace rlvr {

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
}  // namespace

double stream_uniform(uint64_t seed, int64_t prompt, int64_t completion, int64_t step) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ static_cast<uint64_t>(prompt));
  h = splitmix64(h ^ static_cast<uint64_t>(completion));
  h = splitmix64(h ^ static_cast<uint64_t>(step));
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);  // 53 bits
}

namespace {
bool plain(const SamplingParams& p, int64_t V) {
  return (p.top_k <= 0 || p.top_k >= V) && p.top_p >= 1.0 && p.min_p <= 0.0;
}

torch::Tensor penalise(const torch::Tensor& logits, const SamplingParams& p, const torch::Tensor& seen) {
  auto penalised = torch::where(logits > 0, logits / p.repetition_penalty, logits * p.repetition_penalty);
  return torch::where(seen, penalised, logits);
}
}  // namespace

SampleResult sample_tokens(torch::Tensor logits, const SamplingParams& p, const torch::Tensor& seen,
                           const torch::Tensor& uniforms) {
  const auto dtype = logits.scalar_type();
  if (!logits.device().is_cpu() || !plain(p, logits.size(1)) ||
      (dtype != torch::kFloat32 && dtype != torch::kBFloat16))
    return sample_tokens_reference(logits, p, seen, uniforms);
  RECORD_FUNCTION("rlvr::sample_rows", std::vector<c10::IValue>());  // named in profiles
  if (p.repetition_penalty != 1.0 && seen.defined())
    logits = penalise(logits.to(torch::kFloat32), p, seen);
  logits = logits.contiguous();
  const int64_t M = logits.size(0), V = logits.size(1);
  auto u = uniforms.to(torch::kCPU, torch::kFloat64).contiguous();
  auto tokens = torch::empty({M}, torch::kInt64);
  auto logprobs = torch::empty({M}, torch::kFloat32);
  const bool bf16 = logits.scalar_type() == torch::kBFloat16;
  const auto* base = static_cast<const char*>(logits.data_ptr());
  const size_t row_bytes = V * logits.element_size();
  const double* up = u.data_ptr<double>();
  int64_t* tp = tokens.data_ptr<int64_t>();
  float* lp = logprobs.data_ptr<float>();
  const double temperature = p.temperature;
  at::parallel_for(0, M, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(kernels::scratch_floats(V));
    for (int64_t r = begin; r < end; ++r) {
      const char* row = base + r * row_bytes;
      auto s = bf16 ? kernels::sample_row(reinterpret_cast<const uint16_t*>(row), V, temperature, up[r], scratch.data())
                    : kernels::sample_row(reinterpret_cast<const float*>(row), V, temperature, up[r], scratch.data());
      tp[r] = s.token;
      lp[r] = s.logprob;
    }
  });
  return {tokens, logprobs};
}

SampleResult sample_tokens_reference(torch::Tensor logits, const SamplingParams& p,
                                     const torch::Tensor& seen, const torch::Tensor& uniforms) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (logits.scalar_type() != torch::kFloat64) logits = logits.to(torch::kFloat32);
  if (p.repetition_penalty != 1.0 && seen.defined()) {
    logits = penalise(logits, p, seen);
  }
  if (p.temperature <= 0.0) {
    auto tok = logits.argmax(-1);
    auto lp = torch::log_softmax(logits, -1).gather(1, tok.unsqueeze(1)).squeeze(1);
    return {tok, lp};
  }
  logits = logits / p.temperature;
  const int64_t V = logits.size(1);
  if (p.top_k > 0 && p.top_k < V) {
    auto kth = std::get<0>(logits.topk(p.top_k, -1)).narrow(1, p.top_k - 1, 1);  // (M, 1)
    logits = logits.masked_fill(logits < kth, neg_inf);
  }
  if (p.top_p < 1.0) {
    // HF TopP: drop the smallest tokens whose cumulative (ascending) mass is <= 1 - top_p,
    // always keeping the most likely one.
    auto sorted = logits.sort(-1, false);
    auto sorted_logits = std::get<0>(sorted), idx = std::get<1>(sorted);
    auto cum = torch::softmax(sorted_logits, -1).cumsum(-1);
    auto remove_sorted = cum <= (1.0 - p.top_p);
    remove_sorted.narrow(1, V - 1, 1).fill_(false);
    auto remove = torch::zeros_like(remove_sorted).scatter(1, idx, remove_sorted);
    logits = logits.masked_fill(remove, neg_inf);
  }
  if (p.min_p > 0.0) {
    auto probs = torch::softmax(logits, -1);
    auto top = std::get<0>(probs.max(-1, true));
    logits = logits.masked_fill(probs < top * p.min_p, neg_inf);
  }
  auto logp = torch::log_softmax(logits, -1);  // (M, V)
  auto cdf = logp.exp().to(torch::kFloat64).cumsum(-1);
  auto u = (uniforms.to(cdf.device()).unsqueeze(1) * cdf.narrow(1, V - 1, 1));  // scale to total
  auto tok = torch::searchsorted(cdf, u, /*out_int32=*/false, /*right=*/true).squeeze(1);
  tok = tok.clamp_max(V - 1);
  // Never pick a zero-probability token through rounding at the edges.
  auto lp = logp.gather(1, tok.unsqueeze(1)).squeeze(1);
  auto bad = torch::isinf(lp);
  if (bad.any().item<bool>()) {
    auto best = logp.argmax(-1);
    tok = torch::where(bad, best, tok);
    lp = logp.gather(1, tok.unsqueeze(1)).squeeze(1);
  }
  return {tok, lp};
}

}  // namespace rlvr
