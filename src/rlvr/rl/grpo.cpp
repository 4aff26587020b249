// GRPO advantages and loss (see grpo.h). Every formula here is one line of grpo-spec.md section 2;
// the tests in tests/test_grpo.cpp check each against hand-worked numbers.
#include "rlvr/rl/grpo.h"

#include <cmath>
#include <sstream>

#include "rlvr/core/error.h"

namespace rlvr {
namespace {

constexpr double kStdEps = 1e-4;  // TRL's denominator guard for the reward std

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

// The dtype the loss is computed in: float64 stays, everything else becomes float32.
torch::ScalarType compute_dtype(const torch::Tensor& t) {
  return t.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
}

// rewards (N) -> (B, G) in a floating dtype, after checking the grouping.
torch::Tensor grouped(const torch::Tensor& rewards, int64_t group_size) {
  RLVR_CHECK(rewards.defined() && rewards.dim() == 1, "rewards must be a 1-D (N) tensor, got ",
             rewards.defined() ? shape_str(rewards) : std::string("undefined"));
  RLVR_CHECK(group_size >= 2,
             "group_size (num_generations) must be >= 2 for group-relative advantages, got ",
             group_size);
  const int64_t n = rewards.size(0);
  RLVR_CHECK(n > 0 && n % group_size == 0, "rewards has ", n,
             " entries, not a positive multiple of group_size ", group_size);
  torch::Tensor r = rewards.is_floating_point() ? rewards : rewards.to(torch::kFloat);
  RLVR_CHECK(torch::isfinite(r).all().item<bool>(),
             "rewards contain NaN or inf; combine reward functions with a NaN-skipping sum first");
  return r.reshape({n / group_size, group_size});
}

// (B, G) -> (B, 1) sample std with Bessel's correction.
torch::Tensor group_std(const torch::Tensor& g) {
  const int64_t G = g.size(1);
  torch::Tensor centred = g - g.mean(1, /*keepdim=*/true);
  return (centred.pow(2).sum(1, /*keepdim=*/true) / static_cast<double>(G - 1)).sqrt();
}

// () sample std over all entries with Bessel's correction.
torch::Tensor batch_std(const torch::Tensor& g) {
  torch::Tensor flat = g.reshape({-1});
  torch::Tensor centred = flat - flat.mean();
  return (centred.pow(2).sum() / static_cast<double>(flat.numel() - 1)).sqrt();
}

void check_same_shape(const torch::Tensor& t, const torch::Tensor& ref, const char* name) {
  RLVR_CHECK(t.defined(), name, " is undefined");
  RLVR_CHECK(t.sizes() == ref.sizes(), name, " has shape ", shape_str(t), ", expected ",
             shape_str(ref), " (same as logp)");
}

// Masked mean over all tokens of a 0/1 indicator or value, as a plain number (TRL's
// masked_batch_mean).
double masked_mean(const torch::Tensor& x, const torch::Tensor& mask, double count) {
  return ((x * mask).sum() / std::max(count, 1.0)).item<double>();
}

}  // namespace

const char* loss_type_name(LossType t) {
  switch (t) {
    case LossType::kGrpo:
      return "grpo";
    case LossType::kBnpo:
      return "bnpo";
    case LossType::kDrGrpo:
      return "dr_grpo";
    case LossType::kDapo:
      return "dapo";
  }
  return "?";
}

torch::Tensor compute_advantages(const torch::Tensor& rewards, int64_t group_size,
                                 ScaleRewards scale) {
  torch::NoGradGuard no_grad;
  torch::Tensor g = grouped(rewards, group_size);  // (B, G)
  torch::Tensor adv =
      g - g.mean(1, /*keepdim=*/true);  // arXiv 2402.03300 eq. for outcome supervision
  if (scale == ScaleRewards::kGroup) {
    adv = adv / (group_std(g) + kStdEps);
  } else if (scale == ScaleRewards::kBatch) {
    adv = adv / (batch_std(g) + kStdEps);  // batch std: PPO-Lite style, TRL scale_rewards="batch"
  }  // kNone: Dr. GRPO (arXiv 2503.20783) drops the std division
  return adv.reshape({-1});
}

RewardStats reward_stats(const torch::Tensor& rewards, int64_t group_size, ScaleRewards scale) {
  torch::NoGradGuard no_grad;
  torch::Tensor g = grouped(rewards, group_size).to(torch::kDouble);  // (B, G)
  torch::Tensor stds = group_std(g);                                  // (B, 1)
  RewardStats s;
  s.reward = g.mean().item<double>();
  s.reward_std =
      scale == ScaleRewards::kBatch ? batch_std(g).item<double>() : stds.mean().item<double>();
  // A group is "zero std" when all its rewards are equal: its advantages are all 0.
  torch::Tensor all_equal = (g == g.select(1, 0).unsqueeze(1)).all(1);
  s.frac_reward_zero_std = all_equal.to(torch::kDouble).mean().item<double>();
  return s;
}

GrpoLossResult grpo_loss(const torch::Tensor& logp, const torch::Tensor& old_logp,
                         const torch::Tensor& ref_logp, const torch::Tensor& advantages,
                         const torch::Tensor& mask, const GrpoLossOptions& opt,
                         double num_items_in_batch) {
  RLVR_CHECK(logp.defined() && logp.dim() == 2, "logp must be (N, T), got ",
             logp.defined() ? shape_str(logp) : std::string("undefined"));
  check_same_shape(old_logp, logp, "old_logp");
  check_same_shape(mask, logp, "mask");
  const int64_t N = logp.size(0);
  RLVR_CHECK(advantages.defined() && advantages.dim() == 1 && advantages.size(0) == N,
             "advantages must be (", N, "), got ",
             advantages.defined() ? shape_str(advantages) : std::string("undefined"));
  RLVR_CHECK(opt.beta >= 0, "beta must be >= 0, got ", opt.beta);
  RLVR_CHECK(opt.epsilon >= 0 && opt.epsilon_high >= 0,
             "epsilon and epsilon_high must be >= 0, got ", opt.epsilon, " and ", opt.epsilon_high);
  if (opt.beta > 0) check_same_shape(ref_logp, logp, "ref_logp (needed because beta > 0)");

  const auto dt = compute_dtype(logp);
  torch::Tensor lp = logp.to(dt);                             // (N, T) with grad
  torch::Tensor old = old_logp.detach().to(dt);               // (N, T)
  torch::Tensor m = mask.detach().to(dt);                     // (N, T) 0/1
  torch::Tensor A = advantages.detach().to(dt).unsqueeze(1);  // (N, 1)

  torch::Tensor rho = torch::exp(lp - old);  // (N, T) importance ratio
  torch::Tensor rho_clipped = torch::clamp(rho, 1.0 - opt.epsilon, 1.0 + opt.epsilon_high);
  // PPO-style clipped surrogate (arXiv 2402.03300 eq. 3); asymmetric clip from DAPO (arXiv
  // 2503.14476).
  torch::Tensor per_token = -torch::min(rho * A, rho_clipped * A);  // (N, T)

  GrpoLossResult out;
  if (opt.beta > 0) {
    torch::Tensor d = ref_logp.detach().to(dt) - lp;  // (N, T) log(pi_ref / pi)
    torch::Tensor kl = torch::exp(d) - d - 1.0;       // k3 estimator (Schulman, "Approximating KL")
    per_token = per_token + opt.beta * kl;
    torch::NoGradGuard no_grad;
    out.kl_mean = masked_mean(kl.detach(), m, m.sum().item<double>());
  }

  torch::Tensor summed = (per_token * m).sum();
  switch (opt.loss_type) {
    case LossType::kGrpo:  // mean over sequences of the per-sequence token mean (arXiv 2402.03300)
      out.loss = ((per_token * m).sum(1) / m.sum(1).clamp_min(1.0)).mean();
      break;
    case LossType::kBnpo:  // token mean over the micro-batch
      out.loss = summed / m.sum().clamp_min(1.0);
      break;
    case LossType::kDrGrpo:  // constant denominator N * max_completion_length (Dr. GRPO, arXiv
                             // 2503.20783)
      RLVR_CHECK(opt.max_completion_length > 0, "dr_grpo needs max_completion_length > 0, got ",
                 opt.max_completion_length);
      out.loss = summed / static_cast<double>(N * opt.max_completion_length);
      break;
    case LossType::kDapo:  // token mean over the whole generation batch (DAPO, arXiv 2503.14476)
      RLVR_CHECK(num_items_in_batch >= 0, "num_items_in_batch must be >= 0, got ",
                 num_items_in_batch);
      out.loss = summed / std::max(num_items_in_batch, 1.0);
      break;
  }

  torch::NoGradGuard no_grad;
  torch::Tensor r = rho.detach();
  torch::Tensor low = ((r < 1.0 - opt.epsilon) & (A < 0)).to(dt);        // TRL clip_ratio/low_mean
  torch::Tensor high = ((r > 1.0 + opt.epsilon_high) & (A > 0)).to(dt);  // TRL clip_ratio/high_mean
  out.num_tokens = m.sum().item<double>();
  out.clip_low_mean = masked_mean(low, m, out.num_tokens);
  out.clip_high_mean = masked_mean(high, m, out.num_tokens);
  out.clip_region_mean = masked_mean((low + high).clamp_max(1.0), m, out.num_tokens);
  return out;
}

}  // namespace rlvr
