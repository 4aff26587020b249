// Added tokens of a tokenizer.json ("added_tokens"): found in raw or normalized text before
// pre-tokenization, leftmost and then longest first, honouring lstrip / rstrip / single_word.
// Matching only; the Tokenizer decides which text is raw and which is normalized.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rlvr {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;      // skipped by decode(skip_special_tokens=true)
  bool lstrip = false;       // also swallows whitespace on its left
  bool rstrip = false;       // also swallows whitespace on its right
  bool normalized = false;   // matched in normalized text (else in the raw input)
  bool single_word = false;  // only matches when not touching a word character
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  // Keeps the tokens whose `normalized` flag equals `normalized`.
  AddedTokenMatcher(const std::vector<AddedToken>& tokens, bool normalized);
  bool empty() const { return tokens_.empty(); }

  struct Match {
    size_t start, end;  // span to replace by the token, stripped whitespace included
    int32_t id;
  };
  // The first match in text[from..); whitespace is stripped no further left than `from`.
  bool find(std::string_view text, size_t from, Match* m) const;

 private:
  std::vector<AddedToken> tokens_;
  std::vector<std::vector<size_t>> by_first_byte_;  // (256) token indices, longest first
  int single_first_byte_ = -1;                        // >= 0 when all tokens share a first byte
};

}  // namespace rlvr
