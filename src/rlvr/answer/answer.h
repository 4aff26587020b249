// Answer rules for GSM8K-style problems, shared by the gsm8k rewards (rewards/reward_builtin.cpp)
// and the evaluator (evaluator/, eval/report): the strict `####` rule, the last-number rules, the format check and
// numeric answer comparison. Hand-written scanners (no regex engine): linear time, no recursion
// on long completions, and no error path. Torch-free.
#pragma once
#include <optional>
#include <string>

namespace rlvr {

// The gsm8k_correct extraction (grpo-spec section 4): the first match of
// `####.*?(-?[\d,]+(?:\.\d+)?)` (`.` does not cross a newline), commas removed.
// nullopt when there is no match, or the captured text has no digit (e.g. a lone ",").
std::optional<std::string> extract_strict(const std::string& completion);

// The last number in the completion, commas removed. A number is digits with optional
// thousands commas and an optional decimal part ("1,234.5"); a '-' directly before it is a
// sign unless it follows a letter or digit ("3-5" gives 3 and 5, "= -5" gives -5).
std::optional<std::string> extract_flexible(const std::string& completion);

// The published protocol (grpo-spec section 1): the last number anywhere in prompt+output,
// same number grammar as extract_flexible. Pass the prompt and the output concatenated.
std::optional<std::string> extract_published(const std::string& prompt_plus_output);

// The gsm8k_format condition: the text contains "\n#### The final answer is " followed by a digit.
bool has_answer_format(const std::string& completion);

// An answer's text for comparison: commas removed, then surrounding whitespace trimmed.
std::string normalize_answer(const std::string& text);

// Parses "-1,234.50" style text (commas removed, optional sign and '$', surrounding spaces,
// a trailing '.') as a number; nullopt when it is not one.
std::optional<double> parse_answer_number(const std::string& text);

// The comparison of grpo-spec section 4: true when the normalized texts are equal and non-empty
// (so numbers too large for a double still match), else when both parse as numbers within
// 1e-3 of each other.
bool answers_match(const std::string& a, const std::string& b);

}  // namespace rlvr
