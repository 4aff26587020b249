// Constructors of the built-in reward functions (grpo-spec.md section 4); the registry in
// reward.cpp maps names to them. Each validates its JSON options and throws rlvr::Error on
// unknown keys or bad values; scoring itself never throws.
#pragma once
#include <memory>
#include <string>

#include "rlvr/rewards/reward.h"

namespace rlvr::reward_detail {

std::unique_ptr<RewardFunction> make_gsm8k_format(const std::string& name, const nlohmann::json& o);
std::unique_ptr<RewardFunction> make_gsm8k_correct(const std::string& name, const nlohmann::json& o);
std::unique_ptr<RewardFunction> make_math_answer(const std::string& name, const nlohmann::json& o);
std::unique_ptr<RewardFunction> make_exact_match(const std::string& name, const nlohmann::json& o);
std::unique_ptr<RewardFunction> make_regex(const std::string& name, const nlohmann::json& o);
std::unique_ptr<RewardFunction> make_length_penalty(const std::string& name,
                                                    const nlohmann::json& o);
std::unique_ptr<RewardFunction> make_external(const std::string& name, const nlohmann::json& o);
std::unique_ptr<RewardFunction> make_code(const std::string& name, const nlohmann::json& o);

// Throws when `o` is neither null nor an object, or has a key outside `allowed` ("type" is
// always allowed).
void check_option_keys(const std::string& name, const nlohmann::json& o,
                       const std::vector<std::string>& allowed);

}  // namespace rlvr::reward_detail
