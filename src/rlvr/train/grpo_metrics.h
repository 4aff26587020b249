// What a GRPO step logs (grpo-spec.md section 7, TRL's names): reward statistics, completion
// lengths, the loss and its token-weighted means over micro-batches, the progress summary, and
// the batch's sample rows (completions.jsonl, nonfinite-<step>.jsonl).
#pragma once
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlvr/dist/comm.h"
#include "rlvr/evaluator/evaluator.h"
#include "rlvr/rl/grpo.h"
#include "rlvr/rewards/reward.h"
#include "rlvr/train/completion_batch.h"
#include "rlvr/train/rollout.h"

namespace rlvr {

using Metrics = std::map<std::string, double>;

// rewards/<name>/mean and /std (population std over the finite entries, as TRL), /errors when
// a reward failed, each counter as rewards/<name>/<counter> (counts: reward_counts, summed over
// the ranks); reward, reward_std, frac_reward_zero_std.
Metrics reward_metrics(const std::vector<std::unique_ptr<RewardFunction>>& funcs, const RewardResult& rr,
                       const RewardCounts& counts, const RewardStats& stats);
// completions/mean_length, min_length, max_length, clipped_ratio, mean_terminated_length.
Metrics length_metrics(const std::vector<Completion>& completions);

// The micro-batch sums behind loss, kl, clip_ratio/*, entropy and train/forward_tokens.
struct LossTotals {
  double loss = 0, tokens = 0, kl = 0, clip_low = 0, clip_high = 0, clip_region = 0, entropy = 0;
  int64_t forward_tokens = 0;
  void add(double micro_loss, const GrpoLossResult& r, const SequenceLogprobs& lp);
  void all_reduce(dist::Comm& comm);  // sums over the ranks' micro-batches
  Metrics metrics(bool with_kl) const;
};

// "reward 0.500  len 42  loss +0.0012  gen 1.2s train 0.8s[ val acc 0.25]"
std::string step_summary(const Metrics& m);

// One row per completion (the run loop adds the step): prompt, completion, answer, reward, advantage, finish_reason.
std::vector<nlohmann::json> sample_rows(const Rollout& ro);

}  // namespace rlvr
