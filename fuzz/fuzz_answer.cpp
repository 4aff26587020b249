// Fuzz target: the GSM8K answer rules (answer/answer.h) and the math verifier
// (rewards/reward_math.h) on arbitrary completions. They take any text: no input may throw.
#include <cstddef>
#include <cstdint>
#include <string>

#include "rlvr/answer/answer.h"
#include "rlvr/rewards/reward_math.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto half = text.substr(0, text.size() / 2);
  auto strict = rlvr::extract_strict(text);
  auto flexible = rlvr::extract_flexible(text);
  rlvr::extract_published(text);
  rlvr::has_answer_format(text);
  rlvr::parse_answer_number(rlvr::normalize_answer(text));
  if (strict && flexible) rlvr::answers_match(*strict, *flexible);
  rlvr::answers_match(half, text.substr(half.size()));
  rlvr::scan_numbers(text);
  rlvr::normalize_math_text(text);
  if (auto m = rlvr::extract_math_answer(text)) rlvr::math_answers_equal(*m, half);
  return 0;
}
