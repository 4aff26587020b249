// Number scanning, LaTeX clean-up and answer comparison for the math verifier (reward_math.h).
#include "rlvr/rewards/reward_math.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace rlvr {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
const char* kUnicodeMinus = "\xE2\x88\x92";  // U+2212

// Length of a digit run at i.
size_t digits_at(const std::string& s, size_t i) {
  size_t j = i;
  while (j < s.size() && is_digit(s[j])) ++j;
  return j - i;
}

// Parses an unsigned number at i (digits with thousands commas, optional decimals, or .5).
// Returns the end offset and the cleaned digits, or i when there is none.
size_t parse_unsigned(const std::string& s, size_t i, std::string* clean, bool* has_point) {
  *has_point = false;
  size_t j = i;
  size_t lead = digits_at(s, j);
  if (lead == 0) {
    if (j + 1 < s.size() && s[j] == '.' && is_digit(s[j + 1])) {
      size_t f = digits_at(s, j + 1);
      *clean = "0." + s.substr(j + 1, f);
      *has_point = true;
      return j + 1 + f;
    }
    return i;
  }
  *clean = s.substr(j, lead);
  j += lead;
  if (lead <= 3) {  // thousands groups: ,ddd not followed by another digit
    while (j < s.size() && s[j] == ',' && digits_at(s, j + 1) == 3) {
      *clean += s.substr(j + 1, 3);
      j += 4;
    }
  }
  if (j + 1 < s.size() && s[j] == '.' && is_digit(s[j + 1])) {
    size_t f = digits_at(s, j + 1);
    *clean += "." + s.substr(j + 1, f);
    *has_point = true;
    j += 1 + f;
  }
  return j;
}

// A percent sign after the number: "%", " %", "\%", " percent".
size_t percent_at(const std::string& s, size_t j) {
  size_t k = j;
  while (k < s.size() && s[k] == ' ') ++k;
  if (k < s.size() && s[k] == '%') return k + 1;
  if (s.compare(k, 2, "\\%") == 0) return k + 2;
  if (s.compare(k, 7, "percent") == 0 && (k + 7 >= s.size() || !is_alnum(s[k + 7]))) return k + 7;
  return j;
}

// Replaces \cmd{x} by x for wrapper commands; repeats until none is left.
std::string unwrap(std::string s, const std::string& cmd) {
  const std::string open = cmd + "{";
  for (size_t pos; (pos = s.find(open)) != std::string::npos;) {
    size_t b = pos + open.size(), depth = 1, e = b;
    while (e < s.size() && depth) {
      if (s[e] == '{') ++depth;
      if (s[e] == '}') --depth;
      ++e;
    }
    if (depth) break;  // unbalanced: leave as is
    s = s.substr(0, pos) + s.substr(b, e - 1 - b) + s.substr(e);
  }
  return s;
}

// The brace group starting at s[i] == '{'; returns its content and sets *end past '}'.
bool brace_group(const std::string& s, size_t i, std::string* content, size_t* end) {
  if (i >= s.size() || s[i] != '{') return false;
  size_t depth = 0;
  for (size_t e = i; e < s.size(); ++e) {
    if (s[e] == '{') ++depth;
    if (s[e] == '}' && --depth == 0) {
      *content = s.substr(i + 1, e - i - 1);
      *end = e + 1;
      return true;
    }
  }
  return false;
}

std::string replace_all_str(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
  return s;
}

std::string strip_spaces(const std::string& s) {
  std::string out;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) out += c;
  return out;
}

}  // namespace

std::vector<MathNumber> scan_numbers(const std::string& s) {
  std::vector<MathNumber> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    bool neg = false;
    size_t j = i;
    bool sign_ok = (i == 0) || !(is_alnum(s[i - 1]) || s[i - 1] == ')' || s[i - 1] == '.');
    if (sign_ok && s[j] == '-') {
      neg = true;
      ++j;
    } else if (sign_ok && s.compare(j, 3, kUnicodeMinus) == 0) {
      neg = true;
      j += 3;
    }
    if (neg && j < s.size() && s[j] == '$') ++j;  // -$5
    std::string clean;
    bool point = false;
    size_t e = parse_unsigned(s, j, &clean, &point);
    if (e == j || (j > 0 && !neg && is_digit(s[j - 1]))) {  // no number here
      i = start + (neg ? (s[start] == '-' ? 1 : 3) : 1);
      continue;
    }
    double v = std::strtod(clean.c_str(), nullptr);
    if (!point && e + 1 < s.size() && s[e] == '/' && is_digit(s[e + 1])) {  // a/b
      std::string den;
      bool dpoint = false;
      size_t e2 = parse_unsigned(s, e + 1, &den, &dpoint);
      double d = std::strtod(den.c_str(), nullptr);
      if (!dpoint && d != 0) {
        v /= d;
        e = e2;
      }
    }
    MathNumber n;
    n.value = neg ? -v : v;
    size_t pe = percent_at(s, e);
    n.percent = pe != e;
    n.begin = start;
    n.end = pe;
    out.push_back(n);
    i = pe;
  }
  return out;
}

std::string normalize_math_text(const std::string& in) {
  std::string s = in;
  for (const char* cmd : {"\\boxed", "\\fbox", "\\text", "\\textbf", "\\mathrm", "\\mbox",
                          "\\mathbf"})
    s = unwrap(s, cmd);
  // \frac{a}{b}, \dfrac, \tfrac -> (a)/(b) without parentheses when a and b are plain.
  for (const char* cmd : {"\\dfrac", "\\tfrac", "\\frac"}) {
    for (size_t pos; (pos = s.find(cmd)) != std::string::npos;) {
      size_t after = pos + std::string(cmd).size(), e1 = 0, e2 = 0;
      std::string num, den;
      if (!brace_group(s, after, &num, &e1) || !brace_group(s, e1, &den, &e2)) break;
      s = s.substr(0, pos) + num + "/" + den + s.substr(e2);
    }
  }
  for (const char* junk : {"\\$", "$", "\\!", "\\,", "\\;", "\\:", "\\left", "\\right",
                           "^{\\circ}", "^\\circ", "\xC2\xB0"})
    s = replace_all_str(s, junk, "");
  s = replace_all_str(s, "\\%", "%");
  size_t b = s.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\n\r.");
  return s.substr(b, e - b + 1);
}

std::optional<std::string> extract_math_answer(const std::string& text) {
  // 1. the last \boxed{...} (or \fbox{...}) with balanced braces
  for (const char* cmd : {"\\boxed", "\\fbox"}) {
    size_t pos = text.rfind(cmd);
    if (pos == std::string::npos) continue;
    size_t i = pos + std::string(cmd).size();
    while (i < text.size() && text[i] == ' ') ++i;
    std::string content;
    size_t end = 0;
    if (brace_group(text, i, &content, &end)) return normalize_math_text(content);
  }
  // 2. the first number after the last "####"
  size_t hash = text.rfind("####");
  if (hash != std::string::npos) {
    std::string tail = text.substr(hash + 4);
    auto nums = scan_numbers(tail);
    if (!nums.empty()) return tail.substr(nums[0].begin, nums[0].end - nums[0].begin);
  }
  // 3. the last number anywhere
  auto nums = scan_numbers(text);
  if (nums.empty()) return std::nullopt;
  return text.substr(nums.back().begin, nums.back().end - nums.back().begin);
}

bool math_answers_equal(const std::string& predicted, const std::string& reference,
                        double abs_tol, double rel_tol) {
  std::string p = normalize_math_text(predicted), r = normalize_math_text(reference);
  auto pn = scan_numbers(p), rn = scan_numbers(r);
  // A single number, possibly with units around it ("5 apples", "$5", "5 cm").
  auto single = [](const std::vector<MathNumber>& v) { return v.size() == 1; };
  if (single(pn) && single(rn)) {
    auto close = [&](double a, double b) {
      if (std::isnan(a) || std::isnan(b)) return false;
      if (a == b) return true;  // also equal infinities
      double tol = std::max(abs_tol, rel_tol * std::max(std::fabs(a), std::fabs(b)));
      return std::fabs(a - b) <= tol;
    };
    double a = pn[0].value, b = rn[0].value;
    if (close(a, b)) return true;
    if (pn[0].percent && !rn[0].percent && close(a / 100.0, b)) return true;
    if (rn[0].percent && !pn[0].percent && close(a, b / 100.0)) return true;
    return false;
  }
  if (p.empty() || r.empty()) return false;
  return strip_spaces(p) == strip_spaces(r);
}

}  // namespace rlvr
