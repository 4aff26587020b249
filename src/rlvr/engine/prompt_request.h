// The one prompt-request builder: k-shot prompts (text) -> token ids -> engine requests, used
// alike by the GRPO rollout, the trainer's validation and `rlvr eval`, so a problem is tokenized
// the same way in training and in evaluation.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "rlvr/data/prompt.h"
#include "rlvr/engine/engine.h"
#include "rlvr/tokenizer/tokenizer.h"

namespace rlvr {

// Prompts that go to the engine together: they all begin with the same shared prefix ids.
struct PromptGroup {
  std::vector<int64_t> shared_prefix;  // (T_prefix) ids of the common few-shot block, or empty
  std::vector<int64_t> members;        // prompt indices, in order
};

struct PromptIds {
  // (P) each prompt's ids: the tokenizer's encoding of its whole text (prefix + suffix), i.e. what
  // a tokenizer call on the prompt string gives, cut to its last max_prompt_length tokens.
  std::vector<std::vector<int64_t>> full;
  std::vector<PromptGroup> groups;  // every prompt in exactly one group
  bool truncated = false;           // some prompt was cut to max_prompt_length
};

// A prompt joins the group of its prefix when its full ids begin with the ids of parts.prefix
// (true for the GSM8K block, which ends in "\n\n") and it was not cut; otherwise it goes whole,
// in the group with the empty prefix. max_prompt_length <= 0: no limit.
PromptIds tokenize_prompts(const Tokenizer& tok, const std::vector<PromptParts>& parts,
                           int64_t max_prompt_length = 0);

// Prompts [begin, end) of `ids`, renumbered from 0: each group keeps its members in that range (in
// order) and groups left empty are dropped; `truncated` is the whole set's flag.
PromptIds slice_prompts(const PromptIds& ids, int64_t begin, int64_t end);

// Runs every group through the engine, in waves of at most `wave` prompts (<= 0: a group at once).
// `base` gives everything but shared_prefix and prompts. Each prompt's random stream is
// base.stream_ids[its index] when given (one per prompt: a slice of a larger set passes the global
// indices), else its index, so samples do not depend on grouping, waves or slicing. Returns
// P * base.n completions ordered by (prompt, completion), with prompt_index the prompt's index in
// `ids.full`. progress(done, P) is called after each wave.
std::vector<Completion> generate_prompts(Engine& engine, const PromptIds& ids, const GenerateRequest& base,
                                         int64_t wave = 0,
                                         const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace rlvr
