// Chunked log-softmax gather with a custom autograd Function (see logprobs.h).
// d logp_i / d z_i = onehot(t_i) - softmax(z_i); with z = h W^T / tau this gives
// grad_h = (g * (onehot - p)) W / tau and grad_W = sum over chunks of (g * (onehot - p))^T h / tau.
#include "rlvr/rl/logprobs.h"

#include <algorithm>
#include <sstream>

#include "rlvr/core/error.h"

namespace rlvr {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

void check_inputs(const torch::Tensor& hidden, const torch::Tensor& weight,
                  const torch::Tensor& targets, double temperature) {
  RLVR_CHECK(hidden.defined() && hidden.dim() == 3 && hidden.is_floating_point(),
             "token_logprobs: hidden must be a floating (N, T, C) tensor, got ",
             hidden.defined() ? shape_str(hidden) : std::string("undefined"));
  RLVR_CHECK(weight.defined() && weight.dim() == 2 && weight.is_floating_point() &&
                 weight.size(1) == hidden.size(2),
             "token_logprobs: weight must be a floating (V, C) tensor with C = ", hidden.size(2),
             ", got ", weight.defined() ? shape_str(weight) : std::string("undefined"));
  RLVR_CHECK(targets.defined() && targets.dim() == 2 && targets.size(0) == hidden.size(0) &&
                 targets.size(1) == hidden.size(1) && targets.scalar_type() == torch::kLong,
             "token_logprobs: targets must be int64 (", hidden.size(0), ", ", hidden.size(1),
             "), got ", targets.defined() ? shape_str(targets) : std::string("undefined"));
  RLVR_CHECK(temperature > 0, "token_logprobs: temperature must be > 0, got ", temperature);
  if (targets.numel() > 0) {
    const int64_t lo = targets.min().item<int64_t>(), hi = targets.max().item<int64_t>();
    RLVR_CHECK(lo >= 0 && hi < weight.size(0), "token_logprobs: target ids must lie in [0, ",
               weight.size(0), "), got range [", lo, ", ", hi,
               "]; replace padding ids with a valid id and mask them");
  }
}

struct ChunkOut {
  torch::Tensor logp;     // (M) float32, M = N*T
  torch::Tensor lse;      // (M) float32 logsumexp of the scaled logits
  torch::Tensor entropy;  // (M) float32, or undefined when not requested
};

// float64 when both inputs are float64 (gradient checks), else float32.
torch::ScalarType compute_dtype(const torch::Tensor& h, const torch::Tensor& w) {
  return h.scalar_type() == torch::kDouble && w.scalar_type() == torch::kDouble ? torch::kDouble
                                                                                : torch::kFloat;
}

// Forward over chunks of rows; no autograd inside. w32 is the weight already in the compute dtype.
ChunkOut forward_chunks(const torch::Tensor& h2, const torch::Tensor& w32, const torch::Tensor& t1,
                        int64_t chunk, double temperature, bool want_entropy) {
  torch::NoGradGuard no_grad;
  const int64_t M = h2.size(0);
  const auto cd = w32.scalar_type();
  auto f32 = h2.options().dtype(cd);
  ChunkOut out;
  out.logp = torch::empty({M}, f32);
  out.lse = torch::empty({M}, f32);
  if (want_entropy) out.entropy = torch::empty({M}, f32);
  for (int64_t s = 0; s < M; s += chunk) {
    const int64_t e = std::min(M, s + chunk);
    torch::Tensor z = torch::matmul(h2.slice(0, s, e).to(cd), w32.t());  // (n, V)
    if (temperature != 1.0) z.div_(temperature);
    torch::Tensor lse = torch::logsumexp(z, 1);  // (n)
    out.lse.slice(0, s, e).copy_(lse);
    out.logp.slice(0, s, e).copy_(z.gather(1, t1.slice(0, s, e).unsqueeze(1)).squeeze(1) - lse);
    if (want_entropy) {
      // H = -sum p log p = lse - sum p z
      torch::Tensor p = torch::exp(z - lse.unsqueeze(1));
      out.entropy.slice(0, s, e).copy_(lse - (p * z).sum(1));
    }
  }
  return out;
}

class ChunkedLogprob : public torch::autograd::Function<ChunkedLogprob> {
 public:
  // Returns {logp (M) float32, entropy (M) float32 or empty (0)}; entropy carries no grad.
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& h2,
                               const torch::Tensor& weight, const torch::Tensor& t1, int64_t chunk,
                               double temperature, bool want_entropy) {
    ChunkOut o = forward_chunks(h2, weight.to(compute_dtype(h2, weight)), t1, chunk, temperature,
                                want_entropy);
    ctx->save_for_backward({h2, weight, t1, o.lse});
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["temperature"] = temperature;
    torch::Tensor ent = want_entropy ? o.entropy : torch::empty({0}, o.logp.options());
    ctx->mark_non_differentiable({ent});
    return {o.logp, ent};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor& h2 = saved[0];      // (M, C)
    const torch::Tensor& weight = saved[1];  // (V, C)
    const torch::Tensor& t1 = saved[2];      // (M)
    const torch::Tensor& lse = saved[3];     // (M)
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const bool need_h = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    torch::Tensor g = grad_outputs[0];  // (M) or undefined when logp was unused
    if (!g.defined() || (!need_h && !need_w))
      return {torch::Tensor(), torch::Tensor(), torch::Tensor(),
              torch::Tensor(), torch::Tensor(), torch::Tensor()};
    const auto cd = compute_dtype(h2, weight);
    g = g.to(cd);
    torch::Tensor w32 = weight.to(cd);
    const int64_t M = h2.size(0);
    torch::Tensor grad_h =
        need_h ? torch::empty({M, h2.size(1)}, h2.options().dtype(cd)) : torch::Tensor();
    torch::Tensor grad_w = need_w ? torch::zeros_like(w32) : torch::Tensor();
    for (int64_t s = 0; s < M; s += chunk) {
      const int64_t e = std::min(M, s + chunk);
      torch::Tensor h = h2.slice(0, s, e).to(cd);   // (n, C)
      torch::Tensor z = torch::matmul(h, w32.t());  // (n, V)
      if (temperature != 1.0) z.div_(temperature);
      torch::Tensor gc = g.slice(0, s, e).unsqueeze(1);  // (n, 1)
      // dz = g * (onehot - p), built in place in z's storage.
      torch::Tensor dz = z.sub_(lse.slice(0, s, e).unsqueeze(1)).exp_().mul_(gc).neg_();
      dz.scatter_add_(1, t1.slice(0, s, e).unsqueeze(1), gc);
      if (temperature != 1.0) dz.div_(temperature);
      if (need_h) {
        torch::Tensor rows = grad_h.slice(0, s, e);  // contiguous (n, C) view
        torch::mm_out(rows, dz, w32);
      }
      if (need_w) grad_w.addmm_(dz.t(), h);  // (V, C) += (V, n) @ (n, C), no (V, C) temporary
    }
    return {need_h ? grad_h.to(h2.scalar_type()) : torch::Tensor(),
            need_w ? grad_w.to(weight.scalar_type()) : torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor token_logprobs(const torch::Tensor& hidden, const torch::Tensor& weight,
                             const torch::Tensor& targets, int64_t chunk_tokens,
                             torch::Tensor* entropy, double temperature) {
  check_inputs(hidden, weight, targets, temperature);
  RLVR_CHECK(chunk_tokens > 0, "token_logprobs: chunk_tokens must be > 0, got ", chunk_tokens);
  const int64_t N = hidden.size(0), T = hidden.size(1), C = hidden.size(2);
  torch::Tensor h2 = hidden.reshape({N * T, C});  // (M, C)
  torch::Tensor t1 = targets.reshape({N * T});    // (M)
  const bool want_entropy = entropy != nullptr;
  const bool needs_grad =
      torch::GradMode::is_enabled() && (hidden.requires_grad() || weight.requires_grad());
  torch::Tensor logp, ent;
  if (needs_grad) {
    variable_list outs =
        ChunkedLogprob::apply(h2, weight, t1, chunk_tokens, temperature, want_entropy);
    logp = outs[0];
    ent = outs[1];
  } else {
    ChunkOut o = forward_chunks(h2, weight.to(compute_dtype(h2, weight)), t1, chunk_tokens,
                                temperature, want_entropy);
    logp = o.logp;
    ent = o.entropy;
  }
  if (want_entropy) *entropy = ent.detach().reshape({N, T});
  return logp.reshape({N, T});
}

torch::Tensor token_logprobs_reference(const torch::Tensor& hidden, const torch::Tensor& weight,
                                       const torch::Tensor& targets, torch::Tensor* entropy,
                                       double temperature) {
  check_inputs(hidden, weight, targets, temperature);
  const auto dt = compute_dtype(hidden, weight);
  torch::Tensor z = torch::matmul(hidden.to(dt), weight.to(dt).t()) / temperature;  // (N, T, V)
  torch::Tensor lsm = torch::log_softmax(z, -1);                                    // (N, T, V)
  if (entropy) *entropy = -(lsm.exp() * lsm).sum(-1).detach();                      // (N, T)
  return lsm.gather(2, targets.unsqueeze(2)).squeeze(2);                            // (N, T)
}

}  // namespace rlvr
