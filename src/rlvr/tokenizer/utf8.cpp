// UTF-8 validity, lossy decoding (maximal-subpart U+FFFD substitution, Unicode ch. 3 / Rust's
// from_utf8_lossy) and the GPT-2 byte-level alphabet (openai/gpt-2 encoder.py bytes_to_unicode).
#include "rlvr/tokenizer/utf8.h"

#include <utf8proc.h>

#include <cstring>

namespace rlvr::utf8 {

bool is_ascii(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size(), i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (w & 0x8080808080808080ull) return false;
  }
  for (; i < n; ++i)
    if (static_cast<unsigned char>(p[i]) >= 0x80) return false;
  return true;
}

// Length of the longest prefix of a valid sequence at s[i] (how many bytes belong to the
// maximal subpart), and whether the sequence is complete. Table 3-7 of the Unicode standard.
static size_t scan_char(std::string_view s, size_t i, bool* complete) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  *complete = false;
  if (c < 0x80) {
    *complete = true;
    return 1;
  }
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;  // never valid as a lead byte
  }
  size_t k = 1;
  for (; k < need && i + k < s.size(); ++k) {
    unsigned char x = b(k);
    if (k == 1 ? (x < lo || x > hi) : (x < 0x80 || x > 0xBF)) return k;
  }
  *complete = (k == need);
  return k;
}

size_t valid_char_len(std::string_view s, size_t i) {
  bool complete;
  size_t k = scan_char(s, i, &complete);
  return complete ? k : 0;
}

bool is_valid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t k = valid_char_len(s, i);
    if (k == 0) return false;
    i += k;
  }
  return true;
}

uint32_t decode_at(std::string_view s, size_t& i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
  uint32_t cp = c & (0x3F >> (n - 1));
  for (size_t k = 1; k < n && i + k < s.size(); ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n;
  return cp;
}

void append_codepoint(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_whitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

bool is_word_char(uint32_t cp) {
  if (cp < 0x80)
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
           cp == '_';
  auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

size_t append_lossy(std::string_view bytes, std::string& out, bool stop_at_incomplete) {
  size_t i = 0, n = bytes.size();
  while (i < n) {
    size_t start = i;
    while (i < n && static_cast<unsigned char>(bytes[i]) < 0x80) ++i;
    out.append(bytes.data() + start, i - start);
    if (i == n) break;
    bool complete;
    size_t k = scan_char(bytes, i, &complete);
    if (complete) {
      out.append(bytes.data() + i, k);
      i += k;
    } else if (stop_at_incomplete && k > 0 && i + k == n) {
      return i;  // a valid prefix cut by the end of the input: more bytes may complete it
    } else {
      out += "\xEF\xBF\xBD";
      i += (k == 0 ? 1 : k);
    }
  }
  return n;
}

static ByteLevelTable make_table() {
  ByteLevelTable t;
  t.cp_to_byte.fill(-1);
  uint32_t extra = 0;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    uint32_t cp = printable ? static_cast<uint32_t>(b) : 256 + extra++;
    t.byte_to_cp[b] = cp;
    t.cp_to_byte[cp] = static_cast<int16_t>(b);
  }
  return t;
}

const ByteLevelTable& byte_level_table() {
  static const ByteLevelTable table = make_table();  // immutable after first use
  return table;
}

std::string byte_level_encode(std::string_view bytes) {
  const auto& t = byte_level_table();
  std::string out;
  for (unsigned char b : bytes) append_codepoint(out, t.byte_to_cp[b]);
  return out;
}

bool byte_level_decode(std::string_view s, std::string& out) {
  const auto& t = byte_level_table();
  size_t mark = out.size(), i = 0;
  while (i < s.size()) {
    if (valid_char_len(s, i) == 0) break;
    uint32_t cp = decode_at(s, i);
    if (cp >= t.cp_to_byte.size() || t.cp_to_byte[cp] < 0) {
      out.resize(mark);
      return false;
    }
    out += static_cast<char>(t.cp_to_byte[cp]);
  }
  if (i < s.size()) {
    out.resize(mark);
    return false;
  }
  return true;
}

}  // namespace rlvr::utf8
