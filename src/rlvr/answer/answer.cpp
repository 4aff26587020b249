// Answer rule scanners (see answer.h for each rule). Every scanner walks the text once from
// left to right; numbers are ASCII digits only, like the reference answers.
#include "rlvr/answer/answer.h"

#include <cmath>
#include <cstdlib>

namespace rlvr {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string strip_commas(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (c != ',') out += c;
  return out;
}

// Length of `-?[\d,]+(?:\.\d+)?` matched at `pos` (regex backtracking semantics), 0 if none.
size_t strict_group_at(const std::string& s, size_t pos) {
  size_t i = pos;
  if (i < s.size() && s[i] == '-' && i + 1 < s.size() && (is_digit(s[i + 1]) || s[i + 1] == ',')) ++i;
  size_t body = i;
  while (i < s.size() && (is_digit(s[i]) || s[i] == ',')) ++i;
  if (i == body) return 0;
  if (i + 1 < s.size() && s[i] == '.' && is_digit(s[i + 1])) {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
  }
  return i - pos;
}

// The last number of `s` (grammar in answer.h), or nullopt.
std::optional<std::string> last_number(const std::string& s) {
  std::optional<std::string> last;
  size_t i = 0;
  while (i < s.size()) {
    if (!is_digit(s[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    bool negative = start > 0 && s[start - 1] == '-' && (start < 2 || !is_alnum(s[start - 2]));
    // Digits, with commas only between digits ("1,000"; the comma in "5, 6" ends the number).
    while (i < s.size() && (is_digit(s[i]) || (s[i] == ',' && i + 1 < s.size() && is_digit(s[i + 1])))) ++i;
    if (i + 1 < s.size() && s[i] == '.' && is_digit(s[i + 1])) {
      ++i;
      while (i < s.size() && is_digit(s[i])) ++i;
    }
    last = (negative ? "-" : "") + strip_commas(s.substr(start, i - start));
  }
  return last;
}

}  // namespace

std::optional<std::string> extract_strict(const std::string& completion) {
  const std::string marker = "####";
  for (size_t at = completion.find(marker); at != std::string::npos; at = completion.find(marker, at + 1)) {
    // `.*?` is lazy and stops at a newline: the earliest group start on the marker's line wins.
    for (size_t p = at + marker.size(); p < completion.size() && completion[p] != '\n'; ++p) {
      size_t len = strict_group_at(completion, p);
      if (len == 0) continue;
      std::string captured = strip_commas(completion.substr(p, len));
      bool has_digit = false;
      for (char c : captured) has_digit = has_digit || is_digit(c);
      if (!has_digit) return std::nullopt;  // the regex's first match is a bare "," or "-,"
      return captured;
    }
  }
  return std::nullopt;
}

std::optional<std::string> extract_flexible(const std::string& completion) { return last_number(completion); }

std::optional<std::string> extract_published(const std::string& prompt_plus_output) {
  return last_number(prompt_plus_output);
}

bool has_answer_format(const std::string& completion) {
  const std::string marker = "\n#### The final answer is ";
  for (size_t at = completion.find(marker); at != std::string::npos; at = completion.find(marker, at + 1)) {
    size_t next = at + marker.size();
    if (next < completion.size() && is_digit(completion[next])) return true;
  }
  return false;
}

std::string normalize_answer(const std::string& text) {
  std::string s = strip_commas(text);
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::optional<double> parse_answer_number(const std::string& text) {
  const std::string s = normalize_answer(text);
  if (s.empty()) return std::nullopt;
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) negative = s[i++] == '-';
  if (i < s.size() && s[i] == '$') ++i;
  std::string digits;
  bool any_digit = false, seen_dot = false;
  for (; i < s.size(); ++i) {
    if (is_digit(s[i])) {
      any_digit = true;
    } else if (s[i] == '.' && !seen_dot) {
      seen_dot = true;
    } else {
      return std::nullopt;
    }
    digits += s[i];
  }
  if (!any_digit) return std::nullopt;
  double v = std::strtod(digits.c_str(), nullptr);
  return negative ? -v : v;
}

bool answers_match(const std::string& a, const std::string& b) {
  const std::string ta = normalize_answer(a), tb = normalize_answer(b);
  if (!ta.empty() && ta == tb) return true;
  auto x = parse_answer_number(ta), y = parse_answer_number(tb);
  return x && y && std::fabs(*x - *y) <= 1e-3;
}

}  // namespace rlvr
