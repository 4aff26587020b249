// The reward registry (name -> constructor) and the weighted sum that skips NaN.
#include "rlvr/rewards/reward.h"

#include <cmath>

#include "rlvr/core/error.h"
#include "rlvr/rewards/reward_builtin.h"

namespace rlvr {

namespace {

using Maker = std::unique_ptr<RewardFunction> (*)(const std::string&, const nlohmann::json&);
struct Entry {
  const char* name;
  Maker make;
};
// Immutable table; adding a reward means adding one line here.
constexpr Entry kRegistry[] = {
    {"gsm8k_format", reward_detail::make_gsm8k_format},
    {"gsm8k_correct", reward_detail::make_gsm8k_correct},
    {"math_answer", reward_detail::make_math_answer},
    {"exact_match", reward_detail::make_exact_match},
    {"regex", reward_detail::make_regex},
    {"length_penalty", reward_detail::make_length_penalty},
    {"external", reward_detail::make_external},
    {"code", reward_detail::make_code},
};

}  // namespace

std::vector<std::string> known_rewards() {
  std::vector<std::string> out;
  for (const auto& e : kRegistry) out.emplace_back(e.name);
  return out;
}

std::unique_ptr<RewardFunction> make_reward(const std::string& name, const nlohmann::json& options) {
  RLVR_CHECK(options.is_null() || options.is_object(), "reward '", name,
             "': options must be a JSON object, got ", options.dump());
  std::string type = name;
  if (options.is_object() && options.contains("type")) {
    RLVR_CHECK(options["type"].is_string(), "reward '", name, "': \"type\" must be a string");
    type = options["type"].get<std::string>();
  }
  for (const auto& e : kRegistry)
    if (type == e.name) return e.make(name, options);
  std::string list;
  for (const auto& n : known_rewards()) list += (list.empty() ? "" : ", ") + n;
  fail("unknown reward '", type, "'; known rewards: ", list,
       " (a user-defined reward is {type: external, command: [...]})");
}

RewardResult score_all(std::vector<std::unique_ptr<RewardFunction>>& funcs,
                       const std::vector<double>& weights, const std::vector<RewardSample>& batch) {
  RLVR_CHECK(weights.empty() || weights.size() == funcs.size(), "reward weights: got ",
             weights.size(), " weights for ", funcs.size(), " reward functions");
  RewardResult res;
  res.total.assign(batch.size(), 0.0);
  for (size_t k = 0; k < funcs.size(); ++k) {
    std::vector<double> r = funcs[k]->score(batch);
    RLVR_CHECK(r.size() == batch.size(), "reward '", funcs[k]->name(), "' returned ", r.size(),
               " scores for ", batch.size(), " samples (a defect in that reward)");
    double w = weights.empty() ? 1.0 : weights[k];
    for (size_t i = 0; i < r.size(); ++i)
      if (!std::isnan(r[i])) res.total[i] += w * r[i];
    res.per_func.push_back(std::move(r));
  }
  return res;
}

}  // namespace rlvr
