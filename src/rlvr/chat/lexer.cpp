// Tokens as jinja2's lexer makes them, with whitespace control applied to the text between tags:
// `{%-` / `-%}` strip all whitespace on that side; lstrip_blocks removes the spaces and tabs that
// open a line before `{%` or `{#` (not `{{`, not `{%+`); trim_blocks removes the newline right
// after `%}` or `#}` (not `+%}`).
#include "rlvr/chat/lexer.h"

#include <algorithm>
#include <cstring>

#include "rlvr/chat/value.h"
#include "rlvr/core/error.h"

namespace rlvr::jinja {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >= 0xC2 && c < 0xE0) ? 2 : (c >= 0xE0 && c < 0xF0) ? 3 : (c >= 0xF0 && c < 0xF5) ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    i += n;
  }
  return true;
}

// \r\n and \r become \n; one trailing newline is dropped (jinja2's keep_trailing_newline=False).
std::string normalize_newlines(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out += '\n';
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out += s[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  Lexer(std::string src, const std::string& name) : src_(std::move(src)), name_(name) {}
  std::vector<Token> run();

 private:
  [[noreturn]] void error(size_t at, const std::string& msg);
  void emit(Tok t, std::string text, size_t at) { out_.push_back({t, std::move(text), line_of(at), col_of(at)}); }
  int line_of(size_t at) {  // counts from the last position asked (tokens come in order)
    if (at < line_at_) line_at_ = 0, line_ = 1;
    line_ += static_cast<int>(std::count(src_.begin() + line_at_, src_.begin() + at, '\n'));
    line_at_ = at;
    return line_;
  }
  int col_of(size_t at) const {
    const size_t nl = at == 0 ? std::string::npos : src_.rfind('\n', at - 1);
    return static_cast<int>(at - (nl == std::string::npos ? 0 : nl + 1)) + 1;
  }
  void text_before_tag(size_t start, size_t tag, char opener, char sign);
  void comment(size_t at);
  bool raw_block(size_t at, size_t body);
  void tag(size_t at, bool block);
  bool tag_end(bool block);
  void number();
  void string_literal();
  void skip_spaces() {
    while (pos_ < src_.size() && is_space(src_[pos_])) ++pos_;
  }
  void after_end(char sign) {  // the newline or the whitespace an end tag takes with it
    if (sign == '-') skip_spaces();
    else if (sign != '+' && pos_ < src_.size() && src_[pos_] == '\n') ++pos_;
    line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
  }

  std::string src_;
  const std::string& name_;
  size_t pos_ = 0;
  size_t line_at_ = 0;  // line_of's cache: line_ is the line of offset line_at_
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> out_;
  std::vector<char> brackets_;
};

void Lexer::error(size_t at, const std::string& msg) {
  fail(name_, ":", line_of(at), ":", col_of(at), ": ", msg);
}

std::vector<Token> Lexer::run() {
  while (pos_ < src_.size()) {
    size_t k = pos_;
    while ((k = src_.find('{', k)) != std::string::npos) {
      if (k + 1 < src_.size() && std::strchr("{%#", src_[k + 1]) && src_[k + 1] != '\0') break;
      ++k;
    }
    if (k == std::string::npos) {
      emit(Tok::Text, src_.substr(pos_), pos_);
      break;
    }
    const char opener = src_[k + 1];
    const char sign = k + 2 < src_.size() && (src_[k + 2] == '-' || src_[k + 2] == '+') ? src_[k + 2] : 0;
    text_before_tag(pos_, k, opener, sign);
    const size_t body = k + 2 + (sign ? 1 : 0);
    pos_ = body;
    if (opener == '#') comment(k);
    else if (opener == '%' && raw_block(k, body)) continue;
    else tag(k, opener == '%');
  }
  emit(Tok::End, "", src_.size());
  return std::move(out_);
}

void Lexer::text_before_tag(size_t start, size_t tag, char opener, char sign) {
  size_t end = tag;
  if (sign == '-') {
    while (end > start && is_space(src_[end - 1])) --end;
  } else if (sign != '+' && opener != '{') {  // lstrip_blocks
    const size_t nl = src_.rfind('\n', tag == 0 ? 0 : tag - 1);
    const size_t l_pos = (nl == std::string::npos || nl < start) ? start : nl + 1;
    bool blank = l_pos < tag;
    for (size_t k = l_pos; k < tag; ++k) blank = blank && is_space(src_[k]);
    if (blank && (l_pos > start || line_starting_)) end = l_pos;
  }
  if (end > start) emit(Tok::Text, src_.substr(start, end - start), start);
}

void Lexer::comment(size_t at) {
  const size_t end = src_.find("#}", pos_);
  if (end == std::string::npos) error(at, "unclosed comment: missing '#}'");
  const char sign = end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+') ? src_[end - 1] : 0;
  pos_ = end + 2;
  after_end(sign);
}

// {% raw %}...{% endraw %}: the text in between, verbatim. False when the tag is not `raw`.
bool Lexer::raw_block(size_t at, size_t body) {
  size_t k = body;
  while (k < src_.size() && is_space(src_[k])) ++k;
  if (src_.compare(k, 3, "raw") != 0 || (k + 3 < src_.size() && is_name_char(src_[k + 3]))) return false;
  k += 3;
  while (k < src_.size() && is_space(src_[k])) ++k;
  const bool strip = src_.compare(k, 3, "-%}") == 0;
  if (!strip && src_.compare(k, 2, "%}") != 0) return false;
  pos_ = k + (strip ? 3 : 2);
  if (strip) skip_spaces();
  for (size_t s = src_.find("{%", pos_); s != std::string::npos; s = src_.find("{%", s + 2)) {
    size_t e = s + 2;
    const char sign = e < src_.size() && (src_[e] == '-' || src_[e] == '+') ? src_[e++] : 0;
    while (e < src_.size() && is_space(src_[e])) ++e;
    if (src_.compare(e, 6, "endraw") != 0) continue;
    e += 6;
    while (e < src_.size() && is_space(src_[e])) ++e;
    const char end_sign = e < src_.size() && (src_[e] == '-' || src_[e] == '+') ? src_[e++] : 0;
    if (src_.compare(e, 2, "%}") != 0) continue;
    const size_t text_start = pos_;
    text_before_tag(text_start, s, '%', sign);
    pos_ = e + 2;
    after_end(end_sign);
    return true;
  }
  error(at, "unclosed raw block: missing '{% endraw %}'");
}

bool Lexer::tag_end(bool block) {
  if (!brackets_.empty()) return false;
  const char* close = block ? "%}" : "}}";
  for (char sign : {'-', '+', '\0'}) {
    if (sign == '+' && !block) continue;
    const size_t at = pos_ + (sign ? 1 : 0);
    if ((sign && (pos_ >= src_.size() || src_[pos_] != sign)) || src_.compare(at, 2, close) != 0) continue;
    emit(block ? Tok::BlockEnd : Tok::VarEnd, close, pos_);
    pos_ = at + 2;
    if (block || sign) after_end(sign ? sign : '\0');
    else line_starting_ = false;
    return true;
  }
  return false;
}

void Lexer::tag(size_t at, bool block) {
  emit(block ? Tok::BlockBegin : Tok::VarBegin, block ? "{%" : "{{", at);
  static const char* const two[] = {"//", "**", "==", "!=", ">=", "<="};
  while (true) {
    if (pos_ >= src_.size()) error(at, block ? "unclosed tag: missing '%}'" : "unclosed tag: missing '}}'");
    if (tag_end(block)) return;
    const char c = src_[pos_];
    if (is_space(c)) {
      ++pos_;
    } else if (is_digit(c)) {
      number();
    } else if (is_name_start(c)) {
      const size_t s = pos_;
      while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
      emit(Tok::Name, src_.substr(s, pos_ - s), s);
    } else if (c == '\'' || c == '"') {
      string_literal();
    } else {
      std::string op(1, c);
      for (const char* t : two)
        if (src_.compare(pos_, 2, t) == 0) op = t;
      if (op.size() == 1 && !std::strchr("+-/*%~[](){}><=.:|,;", c)) error(pos_, std::string("unexpected char '") + c + "'");
      if (c == '(' || c == '[' || c == '{') brackets_.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
      if (c == ')' || c == ']' || c == '}') {
        if (brackets_.empty() || brackets_.back() != c) error(pos_, std::string("unexpected '") + c + "'");
        brackets_.pop_back();
      }
      emit(Tok::Op, op, pos_);
      pos_ += op.size();
    }
  }
}

void Lexer::number() {
  const size_t s = pos_;
  auto digits = [&] {
    while (pos_ < src_.size() && (is_digit(src_[pos_]) || (src_[pos_] == '_' && pos_ + 1 < src_.size() && is_digit(src_[pos_ + 1])))) ++pos_;
  };
  digits();
  bool is_float = false;
  const bool after_dot = s > 0 && src_[s - 1] == '.';  // x.0.1 is two subscripts, as in jinja2
  if (!after_dot && pos_ + 1 < src_.size() && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
    ++pos_;
    digits();
    is_float = true;
  }
  if (!after_dot && pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
    size_t e = pos_ + 1;
    if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
    if (e < src_.size() && is_digit(src_[e])) {
      pos_ = e;
      digits();
      is_float = true;
    }
  }
  std::string text = src_.substr(s, pos_ - s);
  text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
  emit(is_float ? Tok::Float : Tok::Int, text, s);
}

// Python's unicode-escape rules, as jinja2 decodes string literals.
void Lexer::string_literal() {
  const size_t s = pos_;
  const char q = src_[pos_++];
  std::string out;
  while (true) {
    if (pos_ >= src_.size()) error(s, "unclosed string literal");
    const char c = src_[pos_++];
    if (c == q) break;
    if (c != '\\' || pos_ >= src_.size()) {
      out += c;
      continue;
    }
    const char e = src_[pos_++];
    static const char escapes[] = "\\'\"abfnrtv";
    static const char meaning[] = {'\\', '\'', '"', '\a', '\b', '\f', '\n', '\r', '\t', '\v'};
    const char* simple = e ? std::strchr(escapes, e) : nullptr;
    if (simple) {
      out += meaning[simple - escapes];
    } else if (e == '\n') {
      // a backslash-newline continues the line
    } else if (e >= '0' && e <= '7') {
      uint32_t v = e - '0';
      for (int k = 0; k < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7'; ++k) v = v * 8 + (src_[pos_++] - '0');
      utf8::append_codepoint(out, v);
    } else if (e == 'x' || e == 'u' || e == 'U') {
      const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
      uint32_t v = 0;
      for (int k = 0; k < n; ++k) {
        if (pos_ >= src_.size() || hex_value(src_[pos_]) < 0) error(pos_, std::string("truncated \\") + e + " escape in a string literal");
        v = v * 16 + hex_value(src_[pos_++]);
      }
      if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) error(pos_, "a string escape names no character");
      utf8::append_codepoint(out, v);
    } else {
      out += '\\';
      out += e;
    }
  }
  emit(Tok::String, std::move(out), s);
}

}  // namespace

std::vector<Token> tokenize(const std::string& source, const std::string& name) {
  RLVR_CHECK(valid_utf8(source), name, ": the template is not valid UTF-8");
  return Lexer(normalize_newlines(source), name).run();
}

}  // namespace rlvr::jinja
