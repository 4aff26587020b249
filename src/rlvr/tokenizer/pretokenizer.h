// The tokenizer.json "pre_tokenizer": Split (regex or literal, all five delimiter behaviours,
// invert), ByteLevel (optional prefix space and GPT-2 regex), Digits, and Sequence of these.
// It cuts text into pieces ("words") for the BPE model; it does not do the byte mapping.
#pragma once
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "rlvr/tokenizer/regex.h"

namespace rlvr {

class PreTokenizer {
 public:
  using Emit = std::function<void(std::string_view)>;
  enum class Behavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

  // `spec` is the "pre_tokenizer" value; `where` names the file for errors.
  static PreTokenizer from_json(const nlohmann::json& spec, const std::string& where);

  // Storage that must outlive the pieces passed to `emit` (regex state, prefixed copies).
  struct Scratch {
    RegexScratch regex;
    std::deque<std::string> owned;
  };
  // Calls emit(piece) for each non-empty piece of `text`, in order.
  void run(std::string_view text, bool valid_utf8, Scratch& scratch, const Emit& emit) const;
  bool has_byte_level() const { return has_byte_level_; }

 private:
  struct Step {
    bool prefix_space = false;      // ByteLevel(add_prefix_space): prepend ' ' when missing
    std::shared_ptr<Regex> regex;   // null for a prefix-space-only step
    Behavior behavior = Behavior::kIsolated;
    bool invert = false;
  };
  void add(const nlohmann::json& spec, const std::string& where);
  void run_from(size_t step, std::string_view text, bool valid_utf8, Scratch& scratch,
                const Emit& emit) const;
  void split(const Step& s, std::string_view text, bool valid_utf8, Scratch& scratch,
             const std::function<void(std::string_view)>& next) const;

  std::vector<Step> steps_;
  bool has_byte_level_ = false;
};

// The regex ByteLevel(use_regex=true) uses (GPT-2's).
extern const char* const kGpt2Pattern;

}  // namespace rlvr
