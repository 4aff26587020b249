// Reward functions over strings (prompt, completion, reference answer): the interface, the
// registry by name with JSON options, and the weighted sum of grpo-spec.md section 2.
// Rewards never see tensors and never throw on a model's output: bad output scores 0.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rlvr {

struct RewardSample {
  std::string prompt;      // the full prompt text
  std::string completion;  // decoded completion, stop string removed
  std::string answer;      // reference answer (GSM8K: text after "####"); may be empty
  // Every field of the dataset row (or of an `rlvr score` input line), as TRL passes dataset
  // columns to reward functions: e.g. "tests", "test_cases", "language". An object, maybe empty.
  nlohmann::json fields = nlohmann::json::object();
};

class RewardFunction {
 public:
  virtual ~RewardFunction() = default;
  // The name used in metrics: rewards/<name>/mean, rewards/<name>/errors.
  virtual const std::string& name() const = 0;
  // (N) scores for the N samples; NaN = not applicable (skipped in the weighted sum).
  virtual std::vector<double> score(const std::vector<RewardSample>& batch) = 0;
  // Cumulative count of failures scored as 0 (external crashes, timeouts, garbage, regex limits).
  virtual int64_t errors() const { return 0; }
  // Cumulative named counters, reported as rewards/<name>/<counter> (e.g. the code reward's
  // "timeouts"); empty for most rewards.
  virtual std::vector<std::pair<std::string, int64_t>> counters() const { return {}; }
};

// Builds a reward by name. options["type"], when present, picks the implementation and `name`
// becomes the display name (e.g. make_reward("judge", {{"type","external"},{"command",...}})).
// Unknown names and bad options throw rlvr::Error (listing the known names).
std::unique_ptr<RewardFunction> make_reward(const std::string& name,
                                            const nlohmann::json& options = {});
std::vector<std::string> known_rewards();

struct RewardResult {
  std::vector<std::vector<double>> per_func;  // (K, N), NaN = not applicable
  std::vector<double> total;                  // (N) sum_k w_k r_k over non-NaN r_k (0 if none)
};
// weights: (K) or empty (all 1). Throws rlvr::Error on a size mismatch (a config error).
RewardResult score_all(std::vector<std::unique_ptr<RewardFunction>>& funcs,
                       const std::vector<double>& weights, const std::vector<RewardSample>& batch);

}  // namespace rlvr
