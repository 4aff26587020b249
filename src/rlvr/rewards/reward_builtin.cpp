// Built-in rewards: gsm8k_format and gsm8k_correct exactly as grpo-spec.md section 4,
// math_answer (reward_math.h), exact_match, regex, and the DAPO soft overlong length penalty.
#include "rlvr/rewards/reward_builtin.h"

#include <cmath>
#include <limits>

#include "rlvr/answer/answer.h"
#include "rlvr/core/error.h"
#include "rlvr/rewards/reward_math.h"
#include "rlvr/rewards/reward_regex.h"

namespace rlvr::reward_detail {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string trim_ws(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Base for functions that score samples one at a time and count errors.
class PerSample : public RewardFunction {
 public:
  explicit PerSample(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  int64_t errors() const override { return errors_; }
  std::vector<double> score(const std::vector<RewardSample>& batch) override {
    std::vector<double> out;
    out.reserve(batch.size());
    for (const auto& s : batch) {
      try {
        out.push_back(one(s));
      } catch (const std::exception&) {  // a defect or a regex limit: 0 and a counter
        ++errors_;
        out.push_back(0.0);
      }
    }
    return out;
  }

 protected:
  virtual double one(const RewardSample& s) = 0;
  int64_t errors_ = 0;

 private:
  std::string name_;
};

RewardRegex::Flags parse_flags(const std::string& name, const std::string& f) {
  RewardRegex::Flags fl;
  for (char c : f) {
    if (c == 'i') fl.caseless = true;
    else if (c == 'm') fl.multiline = true;
    else if (c == 's') fl.dotall = true;
    else if (c == 'u') fl.utf = true;
    else fail("reward '", name, "': unknown regex flag '", c, "'; use i, m, s, u");
  }
  return fl;
}

// gsm8k_format: 0.5 when the completion matches \n#### The final answer is \d+.
class Gsm8kFormat : public PerSample {
 public:
  using PerSample::PerSample;

 protected:
  double one(const RewardSample& s) override { return has_answer_format(s.completion) ? 0.5 : 0.0; }
};

// gsm8k_correct: 1.0 when the strict answer (answer.h extract_strict) matches the reference
// (answers_match: commas removed, within 1e-3).
class Gsm8kCorrect : public PerSample {
 public:
  using PerSample::PerSample;

 protected:
  double one(const RewardSample& s) override {
    if (normalize_answer(s.answer).empty()) return kNaN;  // no reference: not applicable
    if (!parse_answer_number(s.answer)) {  // a data problem, not the model's: 0 and a counter
      ++errors_;
      return 0.0;
    }
    auto got = extract_strict(s.completion);
    return got && answers_match(*got, s.answer) ? 1.0 : 0.0;
  }
};

class MathAnswer : public PerSample {
 public:
  MathAnswer(std::string name, double abs_tol, double rel_tol)
      : PerSample(std::move(name)), abs_tol_(abs_tol), rel_tol_(rel_tol) {}

 protected:
  double one(const RewardSample& s) override {
    if (trim_ws(s.answer).empty()) return kNaN;
    auto got = extract_math_answer(s.completion);
    if (!got) return 0.0;
    return math_answers_equal(*got, s.answer, abs_tol_, rel_tol_) ? 1.0 : 0.0;
  }

 private:
  double abs_tol_, rel_tol_;
};

class ExactMatch : public PerSample {
 public:
  ExactMatch(std::string name, bool trim, bool ignore_case, std::string marker)
      : PerSample(std::move(name)), trim_(trim), ignore_case_(ignore_case),
        marker_(std::move(marker)) {}

 protected:
  double one(const RewardSample& s) override {
    if (trim_ws(s.answer).empty()) return kNaN;
    std::string text = s.completion;
    if (!marker_.empty()) {
      size_t pos = text.rfind(marker_);
      if (pos == std::string::npos) return 0.0;
      text = text.substr(pos + marker_.size());
    }
    return norm(text) == norm(s.answer) ? 1.0 : 0.0;
  }

 private:
  std::string norm(std::string t) const {
    if (trim_) t = trim_ws(t);
    if (ignore_case_)
      for (char& c : t)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return t;
  }
  bool trim_, ignore_case_;
  std::string marker_;
};

// regex: `match` when the pattern is found in the completion, else `no_match`. "{answer}" in
// the pattern is replaced by the escaped reference (NaN when the reference is empty).
class RegexReward : public PerSample {
 public:
  RegexReward(std::string name, std::string pattern, RewardRegex::Flags flags, double match,
              double no_match)
      : PerSample(std::move(name)), pattern_(std::move(pattern)), flags_(flags), match_(match),
        no_match_(no_match) {
    uses_answer_ = pattern_.find("{answer}") != std::string::npos;
    // Compile once now so a bad pattern is a config error, not a scoring error.
    std::string probe = pattern_;
    size_t pos;
    while ((pos = probe.find("{answer}")) != std::string::npos) probe.replace(pos, 8, "x");
    fixed_ = std::make_unique<RewardRegex>(probe, flags_);
  }

 protected:
  double one(const RewardSample& s) override {
    std::unique_ptr<RewardRegex> per_answer;
    const RewardRegex* re = fixed_.get();
    if (uses_answer_) {
      if (trim_ws(s.answer).empty()) return kNaN;
      std::string p = pattern_, esc = regex_escape(trim_ws(s.answer));
      size_t pos = 0;
      while ((pos = p.find("{answer}", pos)) != std::string::npos) {
        p.replace(pos, 8, esc);
        pos += esc.size();
      }
      per_answer = std::make_unique<RewardRegex>(p, flags_);
      re = per_answer.get();
    }
    auto r = re->search(s.completion, 0, nullptr);
    if (r == RewardRegex::Result::kError) ++errors_;
    return r == RewardRegex::Result::kMatch ? match_ : no_match_;
  }

 private:
  std::string pattern_;
  RewardRegex::Flags flags_;
  double match_, no_match_;
  bool uses_answer_ = false;
  std::unique_ptr<RewardRegex> fixed_;
};

// DAPO soft overlong punishment (arXiv 2503.14476, eq. 13): 0 up to max - cache, then a linear
// ramp to -1 at max, -1 beyond. Length in bytes, characters (UTF-8 code points) or words.
class LengthPenalty : public PerSample {
 public:
  LengthPenalty(std::string name, double max_len, double cache, std::string unit)
      : PerSample(std::move(name)), max_(max_len), cache_(cache), unit_(std::move(unit)) {}

 protected:
  double one(const RewardSample& s) override {
    double len = static_cast<double>(length(s.completion));
    if (len <= max_ - cache_) return 0.0;
    if (len > max_) return -1.0;
    return (max_ - cache_ - len) / cache_;
  }

 private:
  size_t length(const std::string& t) const {
    if (unit_ == "bytes") return t.size();
    size_t n = 0;
    if (unit_ == "chars") {
      for (unsigned char c : t) n += (c & 0xC0) != 0x80;
      return n;
    }
    bool in_word = false;  // words: runs of non-space bytes
    for (unsigned char c : t) {
      bool sp = c == ' ' || c == '\n' || c == '\t' || c == '\r';
      if (!sp && !in_word) ++n;
      in_word = !sp;
    }
    return n;
  }
  double max_, cache_;
  std::string unit_;
};

template <typename T>
T opt(const std::string& name, const nlohmann::json& o, const char* key, T fallback) {
  if (o.is_null() || !o.contains(key)) return fallback;
  try {
    return o.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("reward '", name, "': option \"", key, "\" has the wrong type (", o.at(key).dump(), ")");
  }
}

}  // namespace

void check_option_keys(const std::string& name, const nlohmann::json& o,
                       const std::vector<std::string>& allowed) {
  if (o.is_null()) return;
  RLVR_CHECK(o.is_object(), "reward '", name, "': options must be a JSON object, got ", o.dump());
  for (auto it = o.begin(); it != o.end(); ++it) {
    if (it.key() == "type") continue;
    bool ok = false;
    for (const auto& a : allowed) ok = ok || a == it.key();
    if (!ok) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail("reward '", name, "': unknown option \"", it.key(), "\"; valid: ",
           list.empty() ? "(none)" : list);
    }
  }
}

std::unique_ptr<RewardFunction> make_gsm8k_format(const std::string& name, const nlohmann::json& o) {
  check_option_keys(name, o, {});
  return std::make_unique<Gsm8kFormat>(name);
}

std::unique_ptr<RewardFunction> make_gsm8k_correct(const std::string& name,
                                                   const nlohmann::json& o) {
  check_option_keys(name, o, {});
  return std::make_unique<Gsm8kCorrect>(name);
}

std::unique_ptr<RewardFunction> make_math_answer(const std::string& name, const nlohmann::json& o) {
  check_option_keys(name, o, {"abs_tol", "rel_tol"});
  double a = opt<double>(name, o, "abs_tol", 1e-6), r = opt<double>(name, o, "rel_tol", 1e-6);
  RLVR_CHECK(a >= 0 && r >= 0, "reward '", name, "': tolerances must be >= 0");
  return std::make_unique<MathAnswer>(name, a, r);
}

std::unique_ptr<RewardFunction> make_exact_match(const std::string& name, const nlohmann::json& o) {
  check_option_keys(name, o, {"trim", "ignore_case", "marker"});
  return std::make_unique<ExactMatch>(name, opt<bool>(name, o, "trim", true),
                                      opt<bool>(name, o, "ignore_case", false),
                                      opt<std::string>(name, o, "marker", ""));
}

std::unique_ptr<RewardFunction> make_regex(const std::string& name, const nlohmann::json& o) {
  check_option_keys(name, o, {"pattern", "flags", "match", "no_match"});
  std::string pattern = opt<std::string>(name, o, "pattern", "");
  RLVR_CHECK(!pattern.empty(), "reward '", name,
             "': needs option \"pattern\" (a PCRE2 regex searched in the completion)");
  return std::make_unique<RegexReward>(name, pattern,
                                       parse_flags(name, opt<std::string>(name, o, "flags", "")),
                                       opt<double>(name, o, "match", 1.0),
                                       opt<double>(name, o, "no_match", 0.0));
}

std::unique_ptr<RewardFunction> make_length_penalty(const std::string& name,
                                                    const nlohmann::json& o) {
  check_option_keys(name, o, {"max_length", "cache", "unit"});
  double mx = opt<double>(name, o, "max_length", 1024), cache = opt<double>(name, o, "cache", 256);
  std::string unit = opt<std::string>(name, o, "unit", "chars");
  RLVR_CHECK(cache > 0 && cache <= mx, "reward '", name, "': need 0 < cache <= max_length, got ",
             cache, " and ", mx);
  RLVR_CHECK(unit == "bytes" || unit == "chars" || unit == "words", "reward '", name,
             "': unit must be bytes, chars or words, got '", unit, "'");
  return std::make_unique<LengthPenalty>(name, mx, cache, unit);
}

}  // namespace rlvr::reward_detail
