// A thin PCRE2 wrapper for the reward functions: compile once, search many times, bounded
// backtracking (a runaway pattern is a failed match with an error flag, never a hang or crash).
// Byte mode by default (\d is ASCII, . stops at \n, as in Python's re for ASCII text).
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rlvr::reward_detail {

class RewardRegex {
 public:
  struct Flags {
    bool utf = false;        // UTF-8 mode with Unicode properties; invalid UTF-8 never matches
    bool caseless = false;   // (?i)
    bool multiline = false;  // (?m)
    bool dotall = false;     // (?s)
  };
  enum class Result { kMatch, kNoMatch, kError };
  using Groups = std::vector<std::pair<size_t, size_t>>;  // (begin, end) per group; npos if unset

  // Throws rlvr::Error naming the pattern and the offset of a syntax error.
  explicit RewardRegex(const std::string& pattern, Flags flags);
  RewardRegex(const RewardRegex&) = delete;
  RewardRegex& operator=(const RewardRegex&) = delete;
  ~RewardRegex();

  // First match at or after byte `start`; group 0 is the whole match.
  Result search(const std::string& subject, size_t start, Groups* groups) const;
  const std::string& pattern() const { return pattern_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string pattern_;
};

// Escapes every regex metacharacter of `literal` so it matches itself.
std::string regex_escape(const std::string& literal);

}  // namespace rlvr::reward_detail
