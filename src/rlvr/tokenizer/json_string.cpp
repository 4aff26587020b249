// JSON string literal decoding (RFC 8259 section 7) for the tokenizer's fast paths. It never
// validates UTF-8 and never allocates beyond the output string.
#include "rlvr/tokenizer/json_string.h"

#include <cstring>

#include "rlvr/tokenizer/utf8.h"

namespace rlvr {

static bool hex4(const char* p, const char* end, uint32_t& v) {
  if (end - p < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return false;
    v = v * 16 + static_cast<uint32_t>(d);
  }
  return true;
}

bool read_json_string(const char*& p, const char* end, std::string& out) {
  if (p >= end || *p != '"') return false;
  ++p;
  out.clear();
  for (;;) {
    const char* s = p;
    while (p < end && *p != '"' && *p != '\\' && static_cast<unsigned char>(*p) >= 0x20) ++p;
    out.append(s, static_cast<size_t>(p - s));
    if (p >= end || static_cast<unsigned char>(*p) < 0x20) return false;
    if (*p == '"') {
      ++p;
      return true;
    }
    if (++p >= end) return false;  // after the backslash
    char e = *p++;
    switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        uint32_t cp;
        if (!hex4(p, end, cp)) return false;
        p += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo;
          if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, end, lo) ||
              lo < 0xDC00 || lo > 0xDFFF)
            return false;
          p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        utf8::append_codepoint(out, cp);
        break;
      }
      default: return false;
    }
  }
}

}  // namespace rlvr
