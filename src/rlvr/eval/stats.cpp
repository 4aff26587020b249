// Wilson interval, pass@k, maj@k and mean / std (see stats.h for the definitions and sources).
// The maj@k grouping reuses answers_match from answer.h so both agree on "same answer".
#include "rlvr/eval/stats.h"

#include <cmath>

#include "rlvr/answer/answer.h"
#include "rlvr/core/error.h"

namespace rlvr {

Interval wilson_interval_of_mean(double mean, int64_t n, double z) {
  RLVR_CHECK(n >= 0 && mean >= 0.0 && mean <= 1.0, "wilson_interval_of_mean: need n >= 0 and a mean in [0, 1], got ",
             mean, " over ", n);
  if (n == 0) return {0.0, 1.0};
  // Wilson 1927: center = (p + z^2/2n) / (1 + z^2/n),
  // half = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2).
  const double nn = static_cast<double>(n);
  const double p = mean;
  const double z2 = z * z;
  const double denom = 1.0 + z2 / nn;
  const double center = (p + z2 / (2.0 * nn)) / denom;
  const double half = z / denom * std::sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn));
  Interval out{center - half, center + half};
  // The exact bounds are 0 at p = 0 and 1 at p = 1; clamp rounding noise.
  if (p == 0.0 || out.lo < 0.0) out.lo = 0.0;
  if (p == 1.0 || out.hi > 1.0) out.hi = 1.0;
  return out;
}

Interval wilson_interval(int64_t successes, int64_t n, double z) {
  RLVR_CHECK(n >= 0 && successes >= 0 && successes <= n, "wilson_interval: need 0 <= successes <= n, got ",
             successes, " of ", n);
  if (n == 0) return {0.0, 1.0};
  return wilson_interval_of_mean(static_cast<double>(successes) / static_cast<double>(n), n, z);
}

double pass_at_k(int64_t n, int64_t c, int64_t k) {
  RLVR_CHECK(n >= 1 && c >= 0 && c <= n && k >= 1 && k <= n, "pass_at_k: need 0 <= c <= n and 1 <= k <= n, got n=", n,
             " c=", c, " k=", k);
  // Every draw of k samples contains a correct one when fewer than k are wrong.
  if (n - c < k) return 1.0;
  // C(n-c, k) / C(n, k) = prod_{i=n-c+1..n} (1 - k/i): a product of factors in (0, 1],
  // no large binomials (Chen et al. 2021, appendix).
  double prob_all_wrong = 1.0;
  for (int64_t i = n - c + 1; i <= n; ++i) prob_all_wrong *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - prob_all_wrong;
}

bool maj_at_k(const std::vector<std::optional<std::string>>& answers, const std::string& reference) {
  // Groups in order of first occurrence: representative answer and vote count.
  std::vector<std::pair<std::string, int64_t>> groups;
  for (const auto& a : answers) {
    if (!a) continue;
    bool placed = false;
    for (auto& g : groups) {
      if (answers_match(g.first, *a)) {
        ++g.second;
        placed = true;
        break;
      }
    }
    if (!placed) groups.emplace_back(*a, 1);
  }
  if (groups.empty()) return false;
  size_t best = 0;  // strict '>' keeps the earliest group on ties
  for (size_t i = 1; i < groups.size(); ++i)
    if (groups[i].second > groups[best].second) best = i;
  return answers_match(groups[best].first, reference);
}

double mean_of(const std::vector<double>& xs) {
  if (xs.empty()) return 0.0;
  double s = 0.0;
  for (double x : xs) s += x;
  return s / static_cast<double>(xs.size());
}

double stddev_of(const std::vector<double>& xs, bool bessel) {
  if (xs.size() < 2) return 0.0;
  const double m = mean_of(xs);
  double ss = 0.0;
  for (double x : xs) ss += (x - m) * (x - m);
  const double d = static_cast<double>(xs.size()) - (bessel ? 1.0 : 0.0);
  return std::sqrt(ss / d);
}

}  // namespace rlvr
