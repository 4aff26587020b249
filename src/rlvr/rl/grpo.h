// GRPO math: group-relative advantages and the clipped policy-gradient loss with its variants
// (grpo, bnpo, dr_grpo, dapo), following TRL GRPOTrainer semantics (grpo-spec.md section 2).
// Pure tensor functions: no model, no optimizer, no distributed reduction (the caller passes
// the global token count for dapo and sums the metrics it needs across processes).
#pragma once
#include <torch/torch.h>

#include <cstdint>

#include "rlvr/rl/grpo_types.h"  // LossType, ScaleRewards

namespace rlvr {

// rewards: (N) floating, the G = group_size completions of one prompt are consecutive.
// Returns (N) advantages in rewards' dtype (float32 for non-float input):
//   group: (r - mean_group) / (std_group + 1e-4), std with Bessel's correction (arXiv 2402.03300)
//   batch: (r - mean_group) / (std_batch + 1e-4), Bessel's correction over all N
//   none:   r - mean_group (Dr. GRPO, arXiv 2503.20783)
// Throws rlvr::Error when N is not a multiple of group_size, group_size < 2, or a reward is not
// finite.
torch::Tensor compute_advantages(const torch::Tensor& rewards, int64_t group_size,
                                 ScaleRewards scale);

// The reward statistics TRL logs beside the advantages (grpo-spec.md section 7).
struct RewardStats {
  double reward = 0;      // mean reward over the N completions
  double reward_std = 0;  // mean of the per-group stds (group, none); batch std (batch)
  // fraction of groups whose G rewards are all equal (their advantages are 0)
  double frac_reward_zero_std = 0;
};
// rewards: (N) as for compute_advantages.
RewardStats reward_stats(const torch::Tensor& rewards, int64_t group_size, ScaleRewards scale);

struct GrpoLossOptions {
  LossType loss_type = LossType::kDapo;  // normalisation of the summed token losses
  double beta = 0.0;                     // KL coefficient; 0 means no reference log-probs
  double epsilon = 0.2;                  // lower clip: rho >= 1 - epsilon
  double epsilon_high = 0.2;  // upper clip: rho <= 1 + epsilon_high (DAPO, arXiv 2503.14476)
  int64_t max_completion_length = 256;  // dr_grpo's constant denominator
};

struct GrpoLossResult {
  torch::Tensor loss;           // () scalar in the compute dtype, differentiable w.r.t. logp
  double kl_mean = 0;           // masked mean of the k3 KL per token; 0 when beta == 0
  double clip_low_mean = 0;     // masked mean of [rho < 1 - epsilon and A < 0]
  double clip_high_mean = 0;    // masked mean of [rho > 1 + epsilon_high and A > 0]
  double clip_region_mean = 0;  // masked mean of either
  double num_tokens = 0;        // sum of the mask: the weight of these means across micro-batches
};

// logp:      (N, T) policy log-probs of the completion tokens, with grad
// old_logp:  (N, T) log-probs under the sampling policy (logp.detach() when num_iterations == 1)
// ref_logp:  (N, T) reference log-probs; undefined when beta == 0, required when beta > 0
// advantages: (N); mask: (N, T) float 0/1, 1 on completion tokens that count.
// num_items_in_batch: completion tokens in the whole generation batch across all processes (dapo
// only; the loss is sum(l * m) / num_items_in_batch, so the gradient all-reduce must SUM across
// processes — pass num_items_in_batch / world_size when it averages, as TRL does).
// Per token: l = -min(rho * A, clip(rho, 1 - eps, 1 + eps_high) * A) + beta * k3, rho = exp(logp -
// old_logp). Computes in float32 (float64 when logp is float64).
GrpoLossResult grpo_loss(const torch::Tensor& logp, const torch::Tensor& old_logp,
                         const torch::Tensor& ref_logp, const torch::Tensor& advantages,
                         const torch::Tensor& mask, const GrpoLossOptions& opt,
                         double num_items_in_batch);

}  // namespace rlvr
