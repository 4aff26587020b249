// Engine: batched generation of n completions for each of P prompts on one model, in process
// (no weight sync). A shared prefix (e.g. the few-shot block) is prefilled once per weight
// version; each prompt's own tokens once; its n completions copy that KV and decode together.
// Speaks token ids; text (stop strings, Completion::text) comes from a caller-supplied
// TextStream per completion, usually a tokenizer's StreamDecoder (stream_decoding).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rlvr/engine/sampler.h"
#include "rlvr/model/qwen2.h"

namespace rlvr {

class Tokenizer;

// Decodes one completion token by token: push() returns the text the token completes (bytes of
// a UTF-8 character cut across tokens wait for the rest), flush() the held-back bytes at the
// end; the pieces concatenate to the decoded text of all pushed tokens.
class TextStream {
 public:
  virtual ~TextStream() = default;
  virtual std::string push(int64_t id) = 0;
  virtual std::string flush() = 0;
};
using MakeTextStream = std::function<std::unique_ptr<TextStream>()>;

// One rlvr::StreamDecoder of `tok` per completion (Tokenizer::decode's text, piece by piece).
MakeTextStream stream_decoding(const Tokenizer& tok, bool skip_special_tokens = false);

enum class FinishReason { kEos, kStop, kLength };
const char* finish_reason_name(FinishReason r);

struct GenerateRequest {
  std::vector<int64_t> shared_prefix;         // tokens before every prompt (may be empty)
  std::vector<std::vector<int64_t>> prompts;  // P prompts, the tokens after the shared prefix
  int64_t n = 1;                              // completions per prompt
  // Random-stream id of each prompt (default: its index). Callers that split one logical batch
  // over several calls pass global ids, so samples do not depend on the split.
  std::vector<int64_t> stream_ids;
  int64_t max_new_tokens = 128;
  SamplingParams sampling;
  uint64_t seed = 0;
  std::vector<int64_t> eos_ids;
  // Matched on the decoded completion text as it grows: each token's new text is searched
  // together with the previous text's last (longest stop string - 1) bytes.
  std::vector<std::string> stop_strings;
  // One TextStream per completion; needed for stop strings and for Completion::text.
  MakeTextStream decode;
  int64_t max_batch_seqs = 0;   // rows decoded at once; 0 = all
  int64_t max_cache_mb = 0;     // per-wave KV-cache budget in MiB; 0 = none
  bool share_prefix = true;     // false: every sequence prefills prefix+prompt itself (baseline)
  // Called after each decode step with (prompt_index, completion_index, new token).
  std::function<void(int64_t, int64_t, int64_t)> on_token;
};

struct Completion {
  int64_t prompt_index = 0, completion_index = 0;
  std::vector<int64_t> ids;      // generated tokens (through the EOS / stop-completing token)
  std::vector<float> logprobs;   // per token, under the sampling distribution used
  FinishReason finish = FinishReason::kLength;
  std::string text;              // decoded, stop string and what follows removed ("" w/o decode)
};

struct EngineStats {
  int64_t prefill_tokens = 0, decode_tokens = 0;
  // Decode forward passes and the cache rows they computed: a wave's first token comes from
  // the prefill logits, so rows / decode_s is the decode rate without that token.
  int64_t decode_steps = 0, decode_step_rows = 0;
  double prefill_s = 0, decode_s = 0;
  int64_t prefix_cache_hits = 0;
};

class Engine {
 public:
  explicit Engine(CausalLM model) : model_(std::move(model)) {}
  // Completions ordered by (prompt_index, completion_index).
  std::vector<Completion> generate(const GenerateRequest& req);
  // Call after every weight update: drops the cached shared prefix.
  void invalidate_prefix() { ++version_; }
  const EngineStats& stats() const { return stats_; }
  void reset_stats() { stats_ = EngineStats{}; }
  CausalLM& model() { return model_; }

 private:
  KVCache prefix_cache(const std::vector<int64_t>& prefix);
  void run_wave(const GenerateRequest& req, const KVCache& prefix, const std::vector<int64_t>& rows,
                std::vector<Completion>& out);

  CausalLM model_;
  uint64_t version_ = 0;
  uint64_t cached_version_ = ~0ULL;
  std::vector<int64_t> cached_prefix_tokens_;
  KVCache cached_prefix_;
  EngineStats stats_;
};

}  // namespace rlvr
