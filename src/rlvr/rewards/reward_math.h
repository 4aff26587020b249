// The math answer verifier behind the `math_answer` reward: extracts a final answer from free
// text (last \boxed{}, else the first number after the last "####", else the last number) and
// compares it with a reference: fractions, percentages, $, thousands commas, units, negatives.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace rlvr {

struct MathNumber {
  double value = 0;      // numeric value (a/b for fractions)
  bool percent = false;  // written with %, \% or "percent"
  size_t begin = 0;      // byte span in the scanned text
  size_t end = 0;
};

// Every number in `text`, left to right: -12, −3 (U+2212), 1,234.5, .5, 3/4, $5, 50%.
// Commas group thousands only as d{1,3}(,ddd)+; "1,2" is two numbers.
std::vector<MathNumber> scan_numbers(const std::string& text);

// LaTeX clean-up of an answer: \boxed/\text/\mathrm unwrapped, \frac{a}{b} -> a/b, $ and
// spacing commands removed, whitespace trimmed.
std::string normalize_math_text(const std::string& s);

// The final answer of a completion, or nullopt when it has none (no number, no \boxed{}).
std::optional<std::string> extract_math_answer(const std::string& completion);

// True when `predicted` and `reference` agree: both single numbers within
// max(abs_tol, rel_tol * max(|a|, |b|)) (a percentage also matches its value / 100), else the
// normalized texts are equal ignoring spaces.
bool math_answers_equal(const std::string& predicted, const std::string& reference,
                        double abs_tol = 1e-6, double rel_tol = 1e-6);

}  // namespace rlvr
