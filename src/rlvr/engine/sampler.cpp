// Sampling transforms and the batch-independent random draw.
#include "rlvr/engine/sampler.h"

#include <limits>

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

SampleResult sample_tokens(torch::Tensor logits, const SamplingParams& p, const torch::Tensor& seen,
                           const torch::Tensor& uniforms) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (p.repetition_penalty != 1.0 && seen.defined()) {
    auto penalised = torch::where(logits > 0, logits / p.repetition_penalty,
                                  logits * p.repetition_penalty);
    logits = torch::where(seen, penalised, logits);
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
