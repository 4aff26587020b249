// A small recursive-descent reader for tokenizer.json: model.vocab and model.merges are scanned
// straight into vectors (the hot part: ~300k strings), every other value is cut out as a byte
// span and parsed by nlohmann::json.
#include "rlvr/tokenizer/tokenizer_json.h"

#include <cstring>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/tokenizer/json_string.h"

namespace rlvr {
namespace {

using json = nlohmann::json;

class Reader {
 public:
  Reader(const std::string& text, const std::string& path, TokenizerJson& out)
      : begin_(text.data()), p_(begin_), end_(begin_ + text.size()), path_(path), out_(out) {}

  void top() {
    out_.rest = json::object();
    object_entries([&](const std::string& key) {
      if (key == "model" && peek('{')) {
        model();
      } else {
        out_.rest[key] = parse_value();
      }
    });
    ws();
    if (p_ != end_) error("trailing characters after the top-level object");
  }

 private:
  [[noreturn]] void error(const std::string& what) {
    fail(path_, ": invalid JSON at byte ", p_ - begin_, " (", what, ")");
  }
  void ws() { skip_json_ws(p_, end_); }
  bool peek(char c) {
    ws();
    return p_ < end_ && *p_ == c;
  }
  void expect(char c) {
    if (!peek(c)) error(std::string("expected '") + c + "'");
    ++p_;
  }
  std::string str() {
    ws();
    if (!read_json_string(p_, end_, s_)) error("bad string");
    return s_;
  }
  // Calls entry(key) for each key of the object at p_; entry must consume the value.
  template <typename Fn>
  void object_entries(Fn entry) {
    expect('{');
    if (peek('}')) return void(++p_);
    for (;;) {
      std::string key = str();
      expect(':');
      entry(key);
      if (peek(',')) {
        ++p_;
        continue;
      }
      expect('}');
      return;
    }
  }
  // Skips one value and parses its text with nlohmann.
  json parse_value() {
    ws();
    const char* start = p_;
    skip_value();
    try {
      return json::parse(start, p_);
    } catch (const json::parse_error& e) {
      p_ = start + e.byte;
      error(e.what());
    } catch (const json::exception& e) {  // e.g. a number out of range ("1e999")
      error(e.what());
    }
  }
  void skip_value() {
    ws();
    if (p_ == end_) error("unexpected end of file");
    if (*p_ == '"') return void(str());
    if (*p_ != '{' && *p_ != '[') {
      while (p_ < end_ && !std::strchr(",}] \t\r\n", *p_)) ++p_;
      return;
    }
    int depth = 0;
    do {
      if (*p_ == '"') {
        str();
        continue;
      }
      if (*p_ == '{' || *p_ == '[') ++depth;
      if (*p_ == '}' || *p_ == ']') --depth;
      ++p_;
    } while (depth > 0 && p_ < end_);
    if (depth > 0) error("unexpected end of file");
  }
  void model() {
    json m = json::object();
    object_entries([&](const std::string& key) {
      if (key == "vocab" && peek('{')) {
        vocab();
      } else if (key == "merges" && peek('[')) {
        merges();
      } else {
        m[key] = parse_value();
      }
    });
    out_.rest["model"] = std::move(m);
  }
  void vocab() {
    out_.vocab.reserve(static_cast<size_t>(end_ - p_) / 32);  // >= 1 entry per 32 bytes left
    object_entries([&](const std::string& key) {
      ws();
      const char* s = p_;
      bool neg = p_ < end_ && *p_ == '-';
      p_ += neg;
      int64_t v = 0;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9' && v < (int64_t{1} << 40)) v = v * 10 + (*p_++ - '0');
      if (p_ == s + neg || (p_ < end_ && !std::strchr(",} \t\r\n", *p_)))
        fail(path_, ": model.vocab values must be integer ids ('", key, "' at byte ", s - begin_, ")");
      out_.vocab.emplace_back(key, neg ? -v : v);
    });
    out_.vocab_captured = true;
  }
  void merges() {
    out_.merges.reserve(static_cast<size_t>(end_ - p_) / 32);
    expect('[');
    if (peek(']')) {
      ++p_;
      out_.merges_captured = true;
      return;
    }
    for (;;) {
      size_t i = out_.merges.size();
      ws();
      if (p_ < end_ && *p_ == '"') {
        std::string s = str();
        size_t sp = s.find(' ');
        RLVR_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos, path_,
                   ": model.merges[", i, "] '", s, "' must be two tokens separated by one space");
        out_.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else if (p_ < end_ && *p_ == '[') {
        ++p_;
        std::string a = str();
        expect(',');
        std::string b = str();
        RLVR_CHECK(peek(']'), path_, ": model.merges[", i, "] must have exactly 2 strings");
        ++p_;
        out_.merges.emplace_back(std::move(a), std::move(b));
      } else {
        fail(path_, ": model.merges[", i, "] must be a string \"a b\" or a pair [\"a\", \"b\"]");
      }
      if (peek(',')) {
        ++p_;
        continue;
      }
      expect(']');
      out_.merges_captured = true;
      return;
    }
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  const std::string& path_;
  TokenizerJson& out_;
  std::string s_;  // reused string buffer
};

}  // namespace

TokenizerJson read_tokenizer_json(const std::string& path) {
  std::string text = read_text_file(path);
  TokenizerJson out;
  Reader(text, path, out).top();
  return out;
}

}  // namespace rlvr
