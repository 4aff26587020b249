// GRPO step metrics: see grpo_metrics.h.
#include "rlvr/train/grpo_metrics.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>

namespace rlvr {

namespace {

// Mean and std (population, as TRL logs per-reward std) over the finite entries.
std::pair<double, double> finite_mean_std(const std::vector<double>& xs) {
  double s = 0, s2 = 0;
  int64_t n = 0;
  for (double x : xs)
    if (std::isfinite(x)) {
      s += x;
      s2 += x * x;
      ++n;
    }
  if (n == 0) return {std::nan(""), std::nan("")};
  double m = s / n;
  return {m, std::sqrt(std::max(0.0, s2 / n - m * m))};
}

}  // namespace

Metrics reward_metrics(const std::vector<std::unique_ptr<RewardFunction>>& funcs, const RewardResult& rr,
                       const RewardCounts& counts, const RewardStats& stats) {
  Metrics m(counts.counters.begin(), counts.counters.end());
  for (size_t k = 0; k < funcs.size(); ++k) {
    const std::string key = "rewards/" + funcs[k]->name();
    std::tie(m[key + "/mean"], m[key + "/std"]) = finite_mean_std(rr.per_func[k]);
    if (counts.errors[k] > 0) m[key + "/errors"] = counts.errors[k];
  }
  m["reward"] = stats.reward;
  m["reward_std"] = stats.reward_std;
  m["frac_reward_zero_std"] = stats.frac_reward_zero_std;
  return m;
}

Metrics length_metrics(const std::vector<Completion>& completions) {
  double len_sum = 0, term_sum = 0;
  int64_t lmin = INT64_MAX, lmax = 0, clipped = 0, term = 0;
  for (const auto& c : completions) {
    const auto L = static_cast<int64_t>(c.ids.size());
    len_sum += L;
    lmin = std::min(lmin, L);
    lmax = std::max(lmax, L);
    if (c.finish == FinishReason::kLength) {
      ++clipped;
    } else {
      ++term;
      term_sum += L;
    }
  }
  const double N = static_cast<double>(completions.size());
  return {{"completions/mean_length", len_sum / N},
          {"completions/min_length", static_cast<double>(lmin)},
          {"completions/max_length", static_cast<double>(lmax)},
          {"completions/clipped_ratio", clipped / N},
          {"completions/mean_terminated_length", term ? term_sum / term : 0.0}};
}

void LossTotals::add(double micro_loss, const GrpoLossResult& r, const SequenceLogprobs& lp) {
  loss += micro_loss;
  tokens += r.num_tokens;
  kl += r.kl_mean * r.num_tokens;
  clip_low += r.clip_low_mean * r.num_tokens;
  clip_high += r.clip_high_mean * r.num_tokens;
  clip_region += r.clip_region_mean * r.num_tokens;
  entropy += (lp.entropy * lp.mask).sum().item<double>();
  forward_tokens += lp.forward_tokens;
}

void LossTotals::all_reduce(dist::Comm& comm) {
  if (comm.single()) return;
  auto t = torch::tensor({loss, tokens, kl, clip_low, clip_high, clip_region, entropy,
                          static_cast<double>(forward_tokens)}, torch::kFloat64);
  comm.all_reduce(t);
  const double* v = t.data_ptr<double>();
  loss = v[0], tokens = v[1], kl = v[2], clip_low = v[3], clip_high = v[4], clip_region = v[5], entropy = v[6];
  forward_tokens = static_cast<int64_t>(v[7]);
}

Metrics LossTotals::metrics(bool with_kl) const {
  const double denom = std::max(tokens, 1.0);
  Metrics m = {{"loss", loss},
               {"entropy", entropy / denom},
               {"clip_ratio/low_mean", clip_low / denom},
               {"clip_ratio/high_mean", clip_high / denom},
               {"clip_ratio/region_mean", clip_region / denom},
               // token positions the policy forward ran (a shared prefix once per micro-batch)
               {"train/forward_tokens", static_cast<double>(forward_tokens)}};
  if (with_kl) m["kl"] = kl / denom;
  return m;
}

std::string step_summary(const Metrics& m) {
  auto at = [&m](const char* k) { return m.count(k) ? m.at(k) : 0.0; };
  char buf[256];
  std::snprintf(buf, sizeof(buf), "reward %.3f  len %.0f  loss %+.4f  gen %.1fs train %.1fs",
                at("reward"), at("completions/mean_length"), at("loss"), at("time/generate_s"),
                at("time/train_s"));
  std::string s = buf;
  if (m.count("eval_accuracy")) s += " val acc " + std::to_string(m.at("eval_accuracy")).substr(0, 5);
  return s;
}

std::vector<nlohmann::json> sample_rows(const Rollout& ro) {
  std::vector<nlohmann::json> rows;
  for (int64_t i = 0; i < ro.size(); ++i) {
    const Completion& c = ro.completions[i];
    rows.push_back({{"prompt", ro.prompts[c.prompt_index].full()},
                    {"completion", c.text},
                    {"answer", ro.answers[c.prompt_index]},
                    {"reward", ro.rewards[i].item<double>()},
                    {"advantage", ro.advantages[i].item<double>()},
                    {"finish_reason", finish_reason_name(c.finish)}});
  }
  return rows;
}

}  // namespace rlvr
