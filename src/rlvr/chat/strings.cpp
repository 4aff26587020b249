// Python's str methods on UTF-8 text, by code point. Case mapping is Unicode's simple
// (one-to-one) mapping from utf8proc; Python's full mapping differs for a few characters
// (e.g. 'ß'.upper() is 'SS' in Python, 'ß' here).
#include <utf8proc.h>

#include "rlvr/chat/renderer.h"
#include "rlvr/core/error.h"

namespace rlvr::jinja {

namespace {

bool is_cased(uint32_t cp) {
  const auto c = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}
uint32_t to_upper(uint32_t cp) { return static_cast<uint32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(cp))); }
uint32_t to_lower(uint32_t cp) { return static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))); }
uint32_t to_title(uint32_t cp) { return static_cast<uint32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(cp))); }

template <class F>
std::string map_chars(const std::string& s, F f) {
  std::string out;
  out.reserve(s.size());
  size_t k = 0;
  for (uint32_t cp : code_points(s)) utf8::append_codepoint(out, f(cp, k++));
  return out;
}

bool is_line_break(uint32_t cp) {
  return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1E) || cp == 0x85 ||
         cp == 0x2028 || cp == 0x2029;
}

}  // namespace

bool is_py_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

std::string py_strip(const std::string& s, const Value& chars, bool left, bool right) {
  std::vector<uint32_t> set;
  const bool spaces = chars.is_none() || chars.is_undefined();
  if (!spaces) {
    if (!chars.is_string()) fail("strip arg must be None or str, not ", kind_name(chars));
    set = code_points(chars.str());
  }
  auto strip = [&](uint32_t cp) {
    if (spaces) return is_py_space(cp);
    for (uint32_t c : set)
      if (c == cp) return true;
    return false;
  };
  const std::vector<uint32_t> cps = code_points(s);
  size_t a = 0, b = cps.size();
  while (left && a < b && strip(cps[a])) ++a;
  while (right && b > a && strip(cps[b - 1])) --b;
  std::string out;
  for (size_t k = a; k < b; ++k) utf8::append_codepoint(out, cps[k]);
  return out;
}

Items py_split(const std::string& s, const Value& sep, int64_t maxsplit) {
  Items out;
  if (sep.is_none() || sep.is_undefined()) {  // runs of whitespace; no empty strings
    const std::vector<uint32_t> cps = code_points(s);
    size_t k = 0;
    while (k < cps.size()) {
      while (k < cps.size() && is_py_space(cps[k])) ++k;
      if (k == cps.size()) break;
      std::string word;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        while (k < cps.size()) utf8::append_codepoint(word, cps[k++]);  // the rest, trailing spaces kept
        out.emplace_back(std::move(word));
        break;
      }
      while (k < cps.size() && !is_py_space(cps[k])) utf8::append_codepoint(word, cps[k++]);
      out.emplace_back(std::move(word));
    }
    return out;
  }
  if (!sep.is_string()) fail("split: the separator must be a string or None, not ", kind_name(sep));
  const std::string& d = sep.str();
  if (d.empty()) fail("split: empty separator");
  size_t start = 0;
  for (size_t at = s.find(d); at != std::string::npos; at = s.find(d, start)) {
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) break;
    out.emplace_back(s.substr(start, at - start));
    start = at + d.size();
  }
  out.emplace_back(s.substr(start));
  return out;
}

std::string py_upper(const std::string& s) { return map_chars(s, [](uint32_t c, size_t) { return to_upper(c); }); }
std::string py_lower(const std::string& s) { return map_chars(s, [](uint32_t c, size_t) { return to_lower(c); }); }

std::string py_title(const std::string& s) {
  bool prev_cased = false;
  return map_chars(s, [&](uint32_t c, size_t) {
    const uint32_t m = prev_cased ? to_lower(c) : to_title(c);
    prev_cased = is_cased(c);
    return m;
  });
}

std::string jinja_title(const std::string& s) {  // words start after - ( { [ < and whitespace
  bool word_start = true;
  return map_chars(s, [&](uint32_t c, size_t) {
    const bool sep = is_py_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    const uint32_t m = sep ? c : word_start ? to_upper(c) : to_lower(c);
    word_start = sep;
    return m;
  });
}

std::string py_capitalize(const std::string& s) {
  return map_chars(s, [](uint32_t c, size_t k) { return k == 0 ? to_title(c) : to_lower(c); });
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& with, int64_t count) {
  std::string out;
  int64_t n = 0;
  if (old.empty()) {  // Python inserts `with` around every character
    const std::vector<uint32_t> cps = code_points(s);
    for (size_t k = 0; k <= cps.size(); ++k) {
      if (count < 0 || n < count) out += with, ++n;
      if (k < cps.size()) utf8::append_codepoint(out, cps[k]);
    }
    return out;
  }
  size_t start = 0;
  for (size_t at = s.find(old); at != std::string::npos && (count < 0 || n < count); at = s.find(old, start), ++n) {
    out.append(s, start, at - start);
    out += with;
    start = at + old.size();
  }
  out.append(s, start, std::string::npos);
  return out;
}

size_t replace_bound(const std::string& s, const std::string& old, const std::string& with) {
  const size_t slots = old.empty() ? utf8_length(s) + 1 : s.size() / old.size();
  return s.size() + slots * with.size();
}

std::vector<std::string> py_splitlines(const std::string& s) {
  std::vector<std::string> out;
  const std::vector<uint32_t> cps = code_points(s);
  std::string line;
  for (size_t k = 0; k < cps.size(); ++k) {
    if (!is_line_break(cps[k])) {
      utf8::append_codepoint(line, cps[k]);
      continue;
    }
    if (cps[k] == '\r' && k + 1 < cps.size() && cps[k + 1] == '\n') ++k;
    out.push_back(std::move(line));
    line.clear();
  }
  if (!line.empty()) out.push_back(std::move(line));
  return out;
}

}  // namespace rlvr::jinja
