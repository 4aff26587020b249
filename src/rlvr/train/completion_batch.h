// Prompt + completion token sequences -> one right-padded forward batch, and the log-probs of
// the completion tokens under the model (chunked over the vocabulary, never (M, T, V)).
// Shared by the GRPO and SFT trainers.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "rlvr/model/qwen2.h"

namespace rlvr {

struct CompletionBatch {
  // Plain layout: every row whole. Shared-prefix layout (prefix_ids defined): the first P tokens,
  // common to every row, are in prefix_ids (P) once; ids / positions hold the rest of each row
  // (positions from P on), and rows / cols index those suffix rows.
  torch::Tensor prefix_ids;      // (P) int64, or undefined for the plain layout
  torch::Tensor ids, positions;  // (M, T) int64, right-padded; positions -1 on padding
  torch::Tensor rows, cols;      // (M, Tc) int64: the hidden state predicting completion token j
  torch::Tensor targets;         // (M, Tc) int64 completion tokens (0 on padding)
  torch::Tensor mask;            // (M, Tc) float32: 1 on completion tokens that count in the loss
};

// prompts[i] + completions[i] for each row; Tc >= every completion length (pads the token axis
// so rows of several micro-batches line up); keep[i] = false masks row i out of the loss.
// min_shared_prefix > 0: when there are at least two rows and their prompts share a prefix, the
// shared-prefix layout is used with P = (longest common prompt prefix) - 1 (each suffix keeps at
// least one prompt token, the one that predicts the first completion token), provided
// P >= min_shared_prefix. 0 = always the plain layout.
CompletionBatch make_completion_batch(const std::vector<const std::vector<int64_t>*>& prompts,
                                      const std::vector<const std::vector<int64_t>*>& completions,
                                      int64_t Tc, const std::vector<bool>& keep,
                                      int64_t min_shared_prefix = 0);

// (M, Tc) float32 log p(target) at `temperature`; `entropy` (M, Tc) when given. Runs with the
// caller's grad mode. A shared-prefix batch goes through CausalLM::forward_hidden_shared_prefix
// (the same values, the prefix computed once).
torch::Tensor completion_logprobs(CausalLM& model, const CompletionBatch& b, const torch::Device& dev,
                                  int64_t chunk_tokens, double temperature, torch::Tensor* entropy);

// The same log-probs when rows share prompts (GRPO: G completions per prompt): each distinct
// prompt is run once, its keys/values are fanned out to its rows through a KVCache, and only the
// completion tokens are run per row. Same values as completion_logprobs up to float rounding,
// with gradients through both passes. Rows are run in up to four length buckets, so the forward
// does about U*Tp + sum(C) token-layers of work instead of M*(Tp + Tc). No gradient
// checkpointing on this path.
struct GroupedCompletionBatch {
  torch::Tensor prompt_ids, prompt_pos;  // (U, Tp) int64 distinct prompts, right-padded (-1)
  torch::Tensor prompt_last;             // (U) int64 index of each prompt's last token
  torch::Tensor row_prompt;              // (M) int64 prompt of each row
  torch::Tensor comp_ids, comp_pos;      // (M, Tc-1) completion tokens 0..C-2 as inputs (-1 pad)
  std::vector<int64_t> comp_len;         // (M) completion length C of each row
  torch::Tensor targets;                 // (M, Tc) int64 completion tokens (0 on padding)
  torch::Tensor mask;                    // (M, Tc) float32, as in CompletionBatch
};

// prompts: the U distinct prompts; row_prompt[i] < U names row i's prompt. Tc and keep as in
// make_completion_batch.
GroupedCompletionBatch make_grouped_completion_batch(const std::vector<const std::vector<int64_t>*>& prompts,
                                                     const std::vector<int64_t>& row_prompt,
                                                     const std::vector<const std::vector<int64_t>*>& completions,
                                                     int64_t Tc, const std::vector<bool>& keep);

torch::Tensor completion_logprobs(CausalLM& model, const GroupedCompletionBatch& b, const torch::Device& dev,
                                  int64_t chunk_tokens, double temperature, torch::Tensor* entropy);

// The one log-prob call of the trainers: rows of (prompt, completion) token sequences, where rows
// with the same prompt (the same vector) come consecutively, as GRPO's G completions do.
struct SequenceRows {
  std::vector<const std::vector<int64_t>*> prompts, completions;  // (M)
  std::vector<bool> keep;                                          // (M) false: masked out of the loss
};
struct LogprobOptions {
  int64_t Tc = 1;                         // token axis width, >= every completion length
  int64_t chunk_tokens = 512;             // rows of the (rows, V) logits per chunk
  double temperature = 1.0;
  int64_t shared_prefix_min_tokens = 32;  // see make_completion_batch; 0 = never
  bool gradient_checkpointing = false;    // rules out the grouped path
  bool entropy = false;                   // also compute the per-token entropy
};
struct SequenceLogprobs {
  torch::Tensor logp, mask, entropy;  // (M, Tc) float32 on the model's device; entropy if asked
  int64_t forward_tokens = 0;         // token positions run (a shared prefix once, padding counts)
};
// Picks the cheapest exact forward: a prompt prefix common to every row (the few-shot block) runs
// once (works with gradient checkpointing); else each distinct prompt runs once for its rows
// through a KV cache (the grouped forward; not with checkpointing); else rows run whole.
// Runs with the caller's grad mode.
SequenceLogprobs sequence_logprobs(CausalLM& model, const SequenceRows& rows, const torch::Device& dev,
                                   const LogprobOptions& opt);

}  // namespace rlvr
