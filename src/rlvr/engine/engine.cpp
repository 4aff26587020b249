// The batched decode loop: prefix prefill (cached per weight version), then the rows in waves
// (wave.h): per-prompt prefill, fan-out to n completions, decode with per-sequence finish,
// compaction of finished rows.
#include "rlvr/engine/engine.h"

#include <algorithm>

#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/engine/wave.h"
#include "rlvr/tokenizer/tokenizer.h"

namespace rlvr {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kEos: return "eos";
    case FinishReason::kStop: return "stop";
    default: return "length";
  }
}

namespace {

// GPU kernels run asynchronously: wait for them before reading a clock, so prefill and decode
// times are the device's, not the launch queue's.
void sync(const torch::Device& dev) {
  if (dev.is_cuda()) torch::cuda::synchronize();
}

// Wraps a tokenizer's StreamDecoder as the engine's TextStream.
class DecoderStream : public TextStream {
 public:
  explicit DecoderStream(StreamDecoder d) : d_(std::move(d)) {}
  std::string push(int64_t id) override { return d_.push(static_cast<int32_t>(id)); }
  std::string flush() override { return d_.flush(); }

 private:
  StreamDecoder d_;
};
}  // namespace

MakeTextStream stream_decoding(const Tokenizer& tok, bool skip_special_tokens) {
  StreamDecoder fresh(tok, skip_special_tokens);
  return [fresh] { return std::make_unique<DecoderStream>(fresh); };
}

KVCache Engine::prefix_cache(const std::vector<int64_t>& prefix) {
  if (prefix.empty()) return KVCache{};
  if (cached_version_ == version_ && cached_prefix_tokens_ == prefix) {
    ++stats_.prefix_cache_hits;
    return cached_prefix_;
  }
  Stopwatch t0;
  auto dev = model_->model->embed_tokens->weight.device();
  KVCache c;
  auto ids = to_tensor(prefix).to(dev).unsqueeze(0);
  auto pos = torch::arange(static_cast<int64_t>(prefix.size()), ids.options()).unsqueeze(0);
  model_->forward_hidden(ids, pos, &c);
  cached_prefix_ = c.to_prefix();
  cached_prefix_tokens_ = prefix;
  cached_version_ = version_;
  stats_.prefill_tokens += static_cast<int64_t>(prefix.size());
  sync(dev);
  stats_.prefill_s += t0.seconds();
  return cached_prefix_;
}

std::vector<Completion> Engine::generate(const GenerateRequest& req) {
  RLVR_CHECK(req.n >= 1, "generate: n must be >= 1");
  RLVR_CHECK(req.max_new_tokens >= 1, "generate: max_new_tokens must be >= 1");
  RLVR_CHECK(req.stop_strings.empty() || req.decode, "generate: stop strings need a tokenizer");
  for (const auto& s : req.stop_strings)
    RLVR_CHECK(!s.empty(), "generate: an empty stop string; remove it from the stop strings");
  RLVR_CHECK(req.stream_ids.empty() || req.stream_ids.size() == req.prompts.size(),
             "generate: stream_ids must have one entry per prompt");
  const auto& cfg = model_->config();
  for (const auto& p : req.prompts) {
    RLVR_CHECK(!p.empty() || !req.shared_prefix.empty(), "generate: empty prompt");
    for (int64_t id : p)
      RLVR_CHECK(id >= 0 && id < cfg.vocab_size, "generate: token id ", id,
                 " is outside the model's vocabulary (", cfg.vocab_size, ")");
  }
  // Inference mode: no autograd and no version counters. The cached prefix is an inference
  // tensor too; only generate() reads it.
  c10::InferenceMode inference;
  const int64_t P = static_cast<int64_t>(req.prompts.size());
  std::vector<Completion> out(P * req.n);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t c = 0; c < req.n; ++c) {
      out[p * req.n + c].prompt_index = p;
      out[p * req.n + c].completion_index = c;
    }
  // Wave size from --max-batch-seqs and the KV budget.
  int64_t wave = P * req.n;
  if (req.max_batch_seqs > 0) wave = std::min(wave, req.max_batch_seqs);
  if (req.max_cache_mb > 0) {
    size_t longest = 0;
    for (const auto& p : req.prompts) longest = std::max(longest, p.size());
    int64_t slots = static_cast<int64_t>(longest) + req.max_new_tokens +
                    (req.share_prefix ? 0 : static_cast<int64_t>(req.shared_prefix.size()));
    int64_t elem = model_->model->embed_tokens->weight.element_size();
    int64_t per_row = cfg.num_hidden_layers * 2 * cfg.num_key_value_heads * cfg.head_dim * slots * elem;
    int64_t fit = std::max<int64_t>(1, (req.max_cache_mb << 20) / std::max<int64_t>(per_row, 1));
    wave = std::min(wave, fit);
  }
  KVCache prefix = req.share_prefix ? prefix_cache(req.shared_prefix) : KVCache{};
  for (int64_t start = 0; start < P * req.n; start += wave) {
    std::vector<int64_t> rows;
    for (int64_t r = start; r < std::min(P * req.n, start + wave); ++r) rows.push_back(r);
    run_wave(req, prefix, rows, out);
  }
  return out;
}

// prefill -> fan out -> loop { draw, record (EOS / stop / length checks), compact, forward }
// -> texts. Every row finishes by max_new_tokens, so the loop always ends at its break.
void Engine::run_wave(const GenerateRequest& req, const KVCache& prefix, const std::vector<int64_t>& rows,
                      std::vector<Completion>& out) {
  const auto dev = model_->model->embed_tokens->weight.device();
  Wave wave(model_, stats_, req, rows, out);
  Stopwatch t0;
  PrefillLayout layout = wave.layout();
  auto seq_logits = wave.prefill(prefix, layout);
  wave.fan_out(seq_logits, layout);
  sync(dev);
  stats_.prefill_s += t0.seconds();
  t0.restart();
  for (int64_t step = 0; step < req.max_new_tokens; ++step) {
    Draw draw = wave.draw(step);
    if (wave.record(draw)) break;
    torch::Tensor next = wave.next_inputs(draw);
    wave.compact(next);
    wave.forward(next);
  }
  sync(dev);
  stats_.decode_s += t0.seconds();
  wave.finish_texts();
}

}  // namespace rlvr
