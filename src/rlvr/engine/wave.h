// Wave (internal to the engine): the state of one wave of completions decoded together, and its
// phases, in the order Engine::run_wave calls them: layout -> prefill -> fan_out -> loop { draw,
// record (with the EOS / stop / length checks), next_inputs, compact, forward } -> finish_texts.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "rlvr/engine/engine.h"

namespace rlvr {

inline torch::Tensor to_tensor(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64); }

// The prompts of a wave as prefill rows: one per prompt when the completions share it, one per
// completion otherwise.
struct PrefillLayout {
  std::vector<std::vector<int64_t>> seqs;  // tokens of each prefill row (after the cached prefix)
  std::vector<int64_t> row_to_seq;         // wave row -> prefill row
  std::vector<int64_t> next_pos;           // per prefill row: position of the first new token
};

// One decode step's draw for the live (unfinished) cache rows.
struct Draw {
  std::vector<int64_t> live;  // cache rows that drew, in order
  torch::Tensor live_idx;     // `live` on the device; undefined when every cache row is live
  torch::Tensor tokens;       // (live) on the device
  torch::Tensor cpu_tokens, cpu_logprobs;  // the same tokens and their float32 logprobs on CPU
};

// Wave row j decodes out[rows[j]]. Cache row i holds wave row active[i]; logits has one row per
// live cache row, in order. Finished rows stay in the cache (their compute is wasted) until a
// quarter of the rows are finished, then the cache is compacted in place.
class Wave {
 public:
  Wave(CausalLM& model, EngineStats& stats, const GenerateRequest& req, const std::vector<int64_t>& rows,
       std::vector<Completion>& out);
  PrefillLayout layout() const;
  // Runs the prefill rows through the model after `prefix`; returns each row's last logits.
  torch::Tensor prefill(const KVCache& prefix, PrefillLayout& l);
  // Copies each prefill row's cache, logits, position and seen tokens to its completions.
  void fan_out(const torch::Tensor& seq_logits, const PrefillLayout& l);
  Draw draw(int64_t step);
  // Appends the drawn tokens; true when every row in the cache has finished.
  bool record(const Draw& d);
  torch::Tensor next_inputs(const Draw& d);
  void compact(torch::Tensor& next);
  void forward(const torch::Tensor& next);
  void finish_texts();

 private:
  torch::Tensor repetition_mask(const PrefillLayout& l) const;
  bool finished(int64_t j, int64_t token);
  bool append_text(int64_t j, int64_t token);
  Completion& completion(int64_t j) { return out_[rows_[j]]; }

  CausalLM& model_;
  EngineStats& stats_;
  const GenerateRequest& req_;
  const std::vector<int64_t>& rows_;
  std::vector<Completion>& out_;
  const torch::Device dev_;
  const torch::Tensor lm_head_;
  KVCache cache_;
  torch::Tensor logits_;  // (live rows, V) in the model's dtype
  torch::Tensor seen_;    // (cache rows, V) bool tokens so far; only with a repetition penalty
  std::vector<int64_t> active_, row_pos_;
  std::vector<bool> done_;
  int64_t done_in_cache_ = 0;
  std::vector<std::unique_ptr<TextStream>> texts_;  // per wave row; empty without req.decode
  size_t stop_tail_ = 0;  // longest stop string - 1: old text bytes searched with the new text
};

}  // namespace rlvr
