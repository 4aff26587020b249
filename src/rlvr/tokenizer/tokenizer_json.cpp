// SAX handler for tokenizer.json (nlohmann::json::sax_parse): captures model.vocab and
// model.merges into vectors and builds a DOM of the rest with an explicit container stack.
#include "rlvr/tokenizer/tokenizer_json.h"

#include <algorithm>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr {
namespace {

using json = nlohmann::json;

class Handler {
 public:
  Handler(TokenizerJson& out, const std::string& path) : out_(out), path_(path) {}

  bool null() { return value(json()); }
  bool boolean(bool v) { return value(json(v)); }
  bool number_integer(json::number_integer_t v) { return number(v, json(v)); }
  bool number_unsigned(json::number_unsigned_t v) {
    return number(static_cast<int64_t>(std::min<uint64_t>(v, INT64_MAX)), json(v));
  }
  bool number_float(json::number_float_t v, const std::string&) { return value(json(v)); }
  bool binary(json::binary_t&) { return value(json()); }
  bool string(std::string& v) {
    if (cap_ == Cap::kMerges) return add_merge_string(v);
    if (cap_ == Cap::kPair) {
      RLVR_CHECK(pair_.size() < 2, path_, ": model.merges[", out_.merges.size(),
                 "] must have exactly 2 strings");
      pair_.push_back(std::move(v));
      return true;
    }
    return value(json(std::move(v)));
  }
  bool start_object(std::size_t) {
    ++depth_;
    if (cap_ == Cap::kVocabPending) return cap_ = Cap::kVocab, true;
    not_captured();
    return open(json::object());
  }
  bool key(std::string& k) {
    if (cap_ == Cap::kVocab) return vocab_key_ = std::move(k), true;
    if (in_model_ && depth_ == 2 && (k == "vocab" || k == "merges")) {
      cap_ = k == "vocab" ? Cap::kVocabPending : Cap::kMergesPending;
      return true;
    }
    if (depth_ == 1) model_next_ = (k == "model");
    key_ = std::move(k);
    return true;
  }
  bool end_object() {
    --depth_;
    if (cap_ == Cap::kVocab) {
      out_.vocab_captured = true;
      return cap_ = Cap::kNone, true;
    }
    if (depth_ == 1) in_model_ = false;
    return close();
  }
  bool start_array(std::size_t) {
    ++depth_;
    if (cap_ == Cap::kMergesPending) return cap_ = Cap::kMerges, true;
    if (cap_ == Cap::kMerges) return pair_.clear(), cap_ = Cap::kPair, true;
    RLVR_CHECK(cap_ != Cap::kVocab && cap_ != Cap::kPair, path_, ": ",
               cap_ == Cap::kVocab ? "model.vocab values must be integer ids"
                                   : "model.merges entries must be strings or [a, b] pairs");
    not_captured();
    return open(json::array());
  }
  bool end_array() {
    --depth_;
    if (cap_ == Cap::kPair) {
      RLVR_CHECK(pair_.size() == 2, path_, ": model.merges[", out_.merges.size(),
                 "] must have exactly 2 strings");
      out_.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      return cap_ = Cap::kMerges, true;
    }
    if (cap_ == Cap::kMerges) {
      out_.merges_captured = true;
      return cap_ = Cap::kNone, true;
    }
    return close();
  }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception& e) {
    fail(path_, ": invalid JSON at byte ", pos, " (", e.what(), ")");
  }

 private:
  enum class Cap { kNone, kVocabPending, kVocab, kMergesPending, kMerges, kPair };

  bool number(int64_t v, json j) {
    if (cap_ == Cap::kVocab) return out_.vocab.emplace_back(std::move(vocab_key_), v), true;
    return value(std::move(j));
  }
  bool add_merge_string(const std::string& s) {
    size_t sp = s.find(' ');
    RLVR_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos, path_,
               ": model.merges[", out_.merges.size(), "] '", s,
               "' must be two tokens separated by one space");
    out_.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    return true;
  }
  // A vocab/merges value of another shape (e.g. Unigram's list vocab) goes to the DOM instead.
  void not_captured() {
    if (cap_ == Cap::kVocabPending || cap_ == Cap::kMergesPending) {
      key_ = cap_ == Cap::kVocabPending ? "vocab" : "merges";
      cap_ = Cap::kNone;
    }
    RLVR_CHECK(cap_ == Cap::kNone, path_, ": ",
               cap_ == Cap::kVocab ? "model.vocab values must be integer ids"
                                   : "model.merges entries must be strings or [a, b] pairs");
  }
  bool value(json v) {
    if (cap_ != Cap::kNone) not_captured();
    put(std::move(v));
    return true;
  }
  json* put(json v) {
    if (stack_.empty()) {
      out_.rest = std::move(v);
      return &out_.rest;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    json& slot = top[key_];
    slot = std::move(v);
    return &slot;
  }
  bool open(json container) {
    bool entering_model = model_next_ && depth_ == 2;
    model_next_ = false;
    stack_.push_back(put(std::move(container)));
    if (entering_model) in_model_ = true;
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  TokenizerJson& out_;
  const std::string& path_;
  std::vector<json*> stack_;
  std::string key_, vocab_key_;
  std::vector<std::string> pair_;
  Cap cap_ = Cap::kNone;
  int depth_ = 0;
  bool model_next_ = false, in_model_ = false;
};

}  // namespace

TokenizerJson read_tokenizer_json(const std::string& path) {
  std::string text = read_text_file(path);
  TokenizerJson out;
  Handler h(out, path);
  json::sax_parse(text, &h);
  RLVR_CHECK(out.rest.is_object(), path, ": a tokenizer.json must hold a JSON object");
  return out;
}

}  // namespace rlvr
