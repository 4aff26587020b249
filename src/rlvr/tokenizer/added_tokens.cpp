// Added-token matching: a first-byte table (memchr when all tokens share a first byte) and
// longest-first comparison at each candidate position; flag semantics as in HF tokenizers'
// AddedToken (lstrip, rstrip, single_word).
#include "rlvr/tokenizer/added_tokens.h"

#include <algorithm>
#include <cstring>

#include "rlvr/tokenizer/utf8.h"

namespace rlvr {

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens, bool normalized)
    : by_first_byte_(256) {
  for (const auto& t : tokens)
    if (t.normalized == normalized && !t.content.empty()) tokens_.push_back(t);
  for (size_t i = 0; i < tokens_.size(); ++i)
    by_first_byte_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(i);
  int distinct = 0;
  for (int b = 0; b < 256; ++b) {
    auto& v = by_first_byte_[b];
    if (v.empty()) continue;
    ++distinct;
    single_first_byte_ = b;
    std::stable_sort(v.begin(), v.end(), [&](size_t x, size_t y) {
      return tokens_[x].content.size() > tokens_[y].content.size();
    });
  }
  if (distinct != 1) single_first_byte_ = -1;
}

// The code point that ends right before text[i] (i > 0), and where it starts.
static uint32_t char_before(std::string_view text, size_t i, size_t* start) {
  size_t s = i - 1;
  while (s > 0 && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80 && i - s < 4) --s;
  size_t k = utf8::valid_char_len(text, s);
  if (k != i - s) {  // not a complete character: treat the lone byte as a non-space
    *start = i - 1;
    return 0xFFFD;
  }
  *start = s;
  size_t j = s;
  return utf8::decode_at(text, j);
}

static uint32_t char_at(std::string_view text, size_t i, size_t* len) {
  size_t k = utf8::valid_char_len(text, i);
  if (k == 0) {
    *len = 1;
    return 0xFFFD;
  }
  *len = k;
  size_t j = i;
  return utf8::decode_at(text, j);
}

bool AddedTokenMatcher::find(std::string_view text, size_t from, Match* m) const {
  if (tokens_.empty()) return false;
  for (size_t pos = from; pos < text.size(); ++pos) {
    if (single_first_byte_ >= 0) {
      const void* hit = std::memchr(text.data() + pos, single_first_byte_, text.size() - pos);
      if (!hit) return false;
      pos = static_cast<size_t>(static_cast<const char*>(hit) - text.data());
    }
    for (size_t idx : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
      const AddedToken& t = tokens_[idx];
      if (text.compare(pos, t.content.size(), t.content) != 0) continue;
      size_t start = pos, end = pos + t.content.size(), k;
      if (t.single_word) {
        bool word_before = start > 0 && utf8::is_word_char(char_before(text, start, &k));
        bool word_after = end < text.size() && utf8::is_word_char(char_at(text, end, &k));
        if (word_before || word_after) continue;
      }
      if (t.lstrip) {
        while (start > from && utf8::is_whitespace(char_before(text, start, &k))) start = k;
      }
      if (t.rstrip) {
        while (end < text.size() && utf8::is_whitespace(char_at(text, end, &k))) end += k;
      }
      *m = Match{start, end, t.id};
      return true;
    }
  }
  return false;
}

}  // namespace rlvr
