// Pre-tokenizer steps from tokenizer.json, run as a pipeline over string pieces. Split
// semantics follow HF tokenizers' SplitDelimiterBehavior (docs: huggingface.co/docs/tokenizers).
#include "rlvr/tokenizer/pretokenizer.h"

#include "rlvr/core/error.h"
#include "rlvr/tokenizer/utf8.h"

namespace rlvr {

const char* const kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static PreTokenizer::Behavior parse_behavior(const nlohmann::json& spec, const std::string& where) {
  std::string b = spec.value("behavior", std::string("Isolated"));
  if (b == "Isolated") return PreTokenizer::Behavior::kIsolated;
  if (b == "Removed") return PreTokenizer::Behavior::kRemoved;
  if (b == "MergedWithPrevious") return PreTokenizer::Behavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return PreTokenizer::Behavior::kMergedWithNext;
  if (b == "Contiguous") return PreTokenizer::Behavior::kContiguous;
  fail(where, ": Split behavior '", b, "' is unknown");
}

static bool flag(const nlohmann::json& spec, const char* key, bool dflt) {
  auto it = spec.find(key);
  return it != spec.end() && it->is_boolean() ? it->get<bool>() : dflt;
}

PreTokenizer PreTokenizer::from_json(const nlohmann::json& spec, const std::string& where) {
  PreTokenizer p;
  p.add(spec, where);
  return p;
}

void PreTokenizer::add(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_null()) return;
  RLVR_CHECK(spec.is_object() && spec.contains("type") && spec["type"].is_string(), where,
             ": pre_tokenizer must be null or an object with a \"type\"");
  std::string type = spec["type"].get<std::string>();
  if (type == "Sequence") {
    RLVR_CHECK(spec.contains("pretokenizers") && spec["pretokenizers"].is_array(), where,
               ": Sequence pre_tokenizer needs a \"pretokenizers\" array");
    for (const auto& sub : spec["pretokenizers"]) add(sub, where);
  } else if (type == "Split") {
    const auto& pat = spec.value("pattern", nlohmann::json());
    Step s;
    if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string()) {
      s.regex = std::make_shared<Regex>(pat["Regex"].get<std::string>(), false, where);
    } else if (pat.is_object() && pat.contains("String") && pat["String"].is_string()) {
      s.regex = std::make_shared<Regex>(pat["String"].get<std::string>(), true, where);
    } else {
      fail(where, ": Split pre_tokenizer needs \"pattern\": {\"Regex\": ...} or {\"String\": ...}");
    }
    s.behavior = parse_behavior(spec, where);
    s.invert = flag(spec, "invert", false);
    steps_.push_back(std::move(s));
  } else if (type == "ByteLevel") {
    has_byte_level_ = true;
    if (flag(spec, "add_prefix_space", true)) steps_.push_back(Step{true, nullptr});
    if (flag(spec, "use_regex", true))
      steps_.push_back(Step{false, std::make_shared<Regex>(kGpt2Pattern, false, where)});
  } else if (type == "Digits") {
    const char* pat = flag(spec, "individual_digits", false) ? "\\p{N}" : "\\p{N}+";
    steps_.push_back(Step{false, std::make_shared<Regex>(pat, false, where)});
  } else {
    fail(where, ": pre_tokenizer type '", type,
         "' is not supported (supported: Split, ByteLevel, Digits, Sequence, null)");
  }
}

void PreTokenizer::run(std::string_view text, bool valid_utf8, Scratch& scratch,
                       const Emit& emit) const {
  if (text.empty()) return;
  run_from(0, text, valid_utf8, scratch, emit);
}

void PreTokenizer::run_from(size_t step, std::string_view text, bool valid_utf8, Scratch& scratch,
                            const Emit& emit) const {
  if (step == steps_.size()) {
    emit(text);
    return;
  }
  const Step& s = steps_[step];
  if (!s.regex) {  // prefix space, as ByteLevel(add_prefix_space) does for every piece
    if (text[0] != ' ') {
      scratch.owned.push_back(" " + std::string(text));
      text = scratch.owned.back();
    }
    run_from(step + 1, text, valid_utf8, scratch, emit);
    return;
  }
  split(s, text, valid_utf8, scratch, [&](std::string_view piece) {
    run_from(step + 1, piece, valid_utf8, scratch, emit);
  });
}

void PreTokenizer::split(const Step& s, std::string_view text, bool valid_utf8, Scratch& scratch,
                         const std::function<void(std::string_view)>& next) const {
  // Pending piece for the merging behaviours: [p0, p1), and whether it is only a delimiter.
  bool has = false, pending_is_delim = false;
  size_t p0 = 0, p1 = 0;
  auto flush = [&] {
    if (has && p1 > p0) next(text.substr(p0, p1 - p0));
    has = false;
  };
  auto segment = [&](size_t a, size_t b, bool delim) {
    if (b <= a) return;
    switch (s.behavior) {
      case Behavior::kIsolated: next(text.substr(a, b - a)); break;
      case Behavior::kRemoved:
        if (!delim) next(text.substr(a, b - a));
        break;
      case Behavior::kMergedWithPrevious:
        if (delim && has) {
          p1 = b;
        } else {
          flush();
          has = true, p0 = a, p1 = b;
        }
        break;
      case Behavior::kMergedWithNext:
        if (!delim && has && pending_is_delim) {
          p1 = b;
          flush();
        } else {
          flush();
          if (delim) has = true, pending_is_delim = true, p0 = a, p1 = b;
          else next(text.substr(a, b - a));
        }
        break;
      case Behavior::kContiguous:
        if (delim && has && pending_is_delim) {
          p1 = b;
        } else {
          flush();
          has = true, pending_is_delim = delim, p0 = a, p1 = b;
        }
        break;
    }
  };
  size_t pos = 0, search = 0, ms, me;
  while (search <= text.size() && s.regex->find(text, search, valid_utf8, scratch.regex, &ms, &me)) {
    if (me == ms) {  // an empty match splits nothing; step over one character
      size_t k = ms < text.size() ? utf8::valid_char_len(text, ms) : 1;
      search = ms + (k == 0 ? 1 : k);
      continue;
    }
    segment(pos, ms, s.invert);
    segment(ms, me, !s.invert);
    pos = search = me;
  }
  segment(pos, text.size(), s.invert);
  flush();
}

}  // namespace rlvr
