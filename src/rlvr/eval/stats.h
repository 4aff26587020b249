// Evaluation statistics: Wilson score intervals, the unbiased pass@k estimator, majority
// vote (maj@k) and mean / standard deviation. Pure arithmetic on counts and strings; no
// tensors and no I/O here.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rlvr {

// A closed interval [lo, hi] of proportions in [0, 1].
struct Interval {
  double lo = 0.0;
  double hi = 1.0;
};

// Two-sided 95% normal quantile, the default z of wilson_interval.
constexpr double kZ95 = 1.959963984540054;

// Wilson score interval for `successes` out of `n` Bernoulli trials (Wilson 1927).
// n == 0 gives [0, 1]. Throws rlvr::Error unless 0 <= successes <= n.
Interval wilson_interval(int64_t successes, int64_t n, double z = kZ95);

// The same interval around the mean of n values in [0, 1] (per-problem pass@k estimates, say).
// A [0, 1] value with mean p has variance at most p(1 - p), so this is the Bernoulli interval,
// conservative for values between 0 and 1. Throws rlvr::Error unless 0 <= mean <= 1.
Interval wilson_interval_of_mean(double mean, int64_t n, double z = kZ95);

// Unbiased pass@k of Chen et al. 2021 (arXiv 2107.03374): the probability that at least one
// of k samples drawn without replacement from n samples, c of them correct, is correct:
// 1 - C(n-c, k) / C(n, k), computed as 1 - prod_{i=n-c+1..n} (1 - k/i).
// Requires 0 <= c <= n and 1 <= k <= n.
double pass_at_k(int64_t n, int64_t c, int64_t k);

// Majority vote over K extracted answers (nullopt = nothing extracted, never a vote).
// Answers are grouped with answers_match (numeric within 1e-3, commas ignored); the most
// common group wins, ties going to the group whose first member came first. Returns whether
// the winner matches `reference`; false when no answer was extracted at all.
bool maj_at_k(const std::vector<std::optional<std::string>>& answers, const std::string& reference);

// Arithmetic mean; 0 for an empty vector.
double mean_of(const std::vector<double>& xs);
// Standard deviation; `bessel` divides by n-1 instead of n. 0 when fewer than 2 values.
double stddev_of(const std::vector<double>& xs, bool bessel = true);

}  // namespace rlvr
