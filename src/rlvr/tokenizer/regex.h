// A compiled PCRE2 pattern (UTF + Unicode properties, JIT when available) that finds
// successive matches in UTF-8 text, including text with invalid UTF-8 bytes (those never match).
// Not a general regex API: only what the pre-tokenizer needs.
#pragma once
#include <memory>
#include <string>
#include <string_view>

namespace rlvr {

// Per-call matching state (match data, a JIT stack grown on demand). One per thread/call.
class RegexScratch {
 public:
  RegexScratch();
  ~RegexScratch();
  RegexScratch(const RegexScratch&) = delete;
  RegexScratch& operator=(const RegexScratch&) = delete;

 private:
  friend class Regex;
  struct State;
  std::unique_ptr<State> s_;
};

class Regex {
 public:
  // literal: match `pattern` as plain text. `where` names the file for error messages.
  Regex(const std::string& pattern, bool literal, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Finds the first match starting at or after `start`; sets [*mstart, *mend). valid_utf8 must
  // be true only when `subject` is valid UTF-8 (then the faster code path is used).
  bool find(std::string_view subject, size_t start, bool valid_utf8, RegexScratch& scratch,
            size_t* mstart, size_t* mend) const;

  struct Code;  // opaque compiled pattern

 private:
  std::unique_ptr<Code> valid_;    // compiled for valid UTF-8 subjects
  std::unique_ptr<Code> invalid_;  // compiled with PCRE2_MATCH_INVALID_UTF
};

}  // namespace rlvr
