// A test reward that records the row fields it is given and scores each sample with the row's
// "solved" field (1.0 or 0.0), with two counters: samples scored and batches.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "rlvr/rewards/reward.h"

namespace rlvr::test {

class FieldReward : public RewardFunction {
 public:
  const std::string& name() const override { return name_; }
  std::vector<double> score(const std::vector<RewardSample>& batch) override {
    std::vector<double> out;
    for (const RewardSample& s : batch) {
      seen.push_back(s.fields);
      out.push_back(s.fields.value("solved", 0.0));
    }
    samples_ += static_cast<int64_t>(batch.size());
    ++batches_;
    return out;
  }
  std::vector<std::pair<std::string, int64_t>> counters() const override {
    return {{"samples", samples_}, {"batches", batches_}};
  }
  std::vector<nlohmann::json> seen;  // every sample's fields, in scoring order

 private:
  std::string name_ = "fields";
  int64_t samples_ = 0, batches_ = 0;
};

// n code-task rows: {"prompt": "Write f<i>.", "tests": [3 asserts], "language": "python",
// "solved": i % 2}.
inline std::string code_rows(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) {
    const std::string f = "f" + std::to_string(i);
    nlohmann::json row = {{"prompt", "Write " + f + "."},
                          {"tests", {"assert " + f + "(1) == 1", "assert " + f + "(2) == 2", "assert " + f + "(3) == 3"}},
                          {"language", "python"},
                          {"solved", i % 2}};
    text += row.dump() + "\n";
  }
  return text;
}

}  // namespace rlvr::test
