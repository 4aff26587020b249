// The batched decode loop: prefix prefill (cached per weight version), per-prompt prefill,
// fan-out to n completions, decode with per-sequence finish, compaction of finished rows.
#include "rlvr/engine/engine.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "rlvr/core/error.h"

namespace rlvr {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kEos: return "eos";
    case FinishReason::kStop: return "stop";
    default: return "length";
  }
}

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

torch::Tensor to_tensor(const std::vector<int64_t>& v) {
  return torch::tensor(v, torch::kInt64);
}
// GPU kernels run asynchronously: wait for them before reading a clock, so prefill and decode
// times are the device's, not the launch queue's.
void sync(const torch::Device& dev) {
  if (dev.is_cuda()) torch::cuda::synchronize();
}
}  // namespace

KVCache Engine::prefix_cache(const std::vector<int64_t>& prefix) {
  if (prefix.empty()) return KVCache{};
  if (cached_version_ == version_ && cached_prefix_tokens_ == prefix) {
    ++stats_.prefix_cache_hits;
    return cached_prefix_;
  }
  auto t0 = Clock::now();
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
  stats_.prefill_s += since(t0);
  return cached_prefix_;
}

std::vector<Completion> Engine::generate(const GenerateRequest& req) {
  RLVR_CHECK(req.n >= 1, "generate: n must be >= 1");
  RLVR_CHECK(req.max_new_tokens >= 1, "generate: max_new_tokens must be >= 1");
  RLVR_CHECK(req.stop_strings.empty() || req.decode, "generate: stop strings need a tokenizer");
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

void Engine::run_wave(const GenerateRequest& req, const KVCache& prefix,
                      const std::vector<int64_t>& rows, std::vector<Completion>& out) {
  const auto dev = model_->model->embed_tokens->weight.device();
  const int64_t V = model_->config().vocab_size;
  auto t0 = Clock::now();
  // Sequences to prefill: one per prompt (shared) or one per completion (baseline).
  std::vector<int64_t> seq_prompt;   // prompt index of each prefill row
  std::vector<int64_t> row_to_seq;   // completion row -> prefill row
  for (int64_t r : rows) {
    int64_t p = out[r].prompt_index;
    if (req.share_prefix && !seq_prompt.empty() && seq_prompt.back() == p) {
      row_to_seq.push_back(static_cast<int64_t>(seq_prompt.size()) - 1);
      continue;
    }
    seq_prompt.push_back(p);
    row_to_seq.push_back(static_cast<int64_t>(seq_prompt.size()) - 1);
  }
  const int64_t base = prefix.prefix_len;
  std::vector<std::vector<int64_t>> seqs;
  size_t Tmax = 0;
  for (int64_t p : seq_prompt) {
    std::vector<int64_t> s;
    if (!req.share_prefix) s = req.shared_prefix;
    s.insert(s.end(), req.prompts[p].begin(), req.prompts[p].end());
    Tmax = std::max(Tmax, s.size());
    seqs.push_back(std::move(s));
  }
  const int64_t S = static_cast<int64_t>(seqs.size()), T = static_cast<int64_t>(Tmax);
  // Right-padded ids; padding has position -1.
  auto ids = torch::zeros({S, T}, torch::kInt64);
  auto pos = torch::full({S, T}, -1, torch::kInt64);
  std::vector<int64_t> next_pos(S), last_idx(S);
  for (int64_t i = 0; i < S; ++i) {
    const int64_t len = static_cast<int64_t>(seqs[i].size());
    ids[i].narrow(0, 0, len).copy_(to_tensor(seqs[i]));
    pos[i].narrow(0, 0, len).copy_(torch::arange(base, base + len, torch::kInt64));
    next_pos[i] = base + len;
    last_idx[i] = len - 1;
    stats_.prefill_tokens += len;
  }
  KVCache cache = prefix;
  auto hidden = model_->forward_hidden(ids.to(dev), pos.to(dev), &cache);  // (S, T, C)
  auto last = hidden.index({torch::arange(S, torch::kInt64).to(dev), to_tensor(last_idx).to(dev)});
  // Logits stay in the model's dtype (bf16 logits are what the float32 upcast would hold): the
  // sampler reads them as they are, with no (rows, V) float32 copy.
  const auto lm_head = model_->lm_head_weight();
  auto logits = torch::matmul(last, lm_head.t());  // (S, V)
  // Fan out to completions.
  auto fan = to_tensor(row_to_seq).to(dev);
  cache.ensure_capacity(req.max_new_tokens);
  cache.select_rows(fan);
  logits = logits.index_select(0, fan);
  std::vector<int64_t> row_pos;
  for (int64_t s : row_to_seq) row_pos.push_back(next_pos[s]);
  torch::Tensor seen;
  if (req.sampling.repetition_penalty != 1.0) {
    seen = torch::zeros({S, V}, torch::kBool);
    for (int64_t i = 0; i < S; ++i) {
      auto t = to_tensor(seqs[i]);
      if (req.share_prefix && !req.shared_prefix.empty())
        t = torch::cat({to_tensor(req.shared_prefix), t});
      seen[i].index_fill_(0, t, true);
    }
    seen = seen.to(dev).index_select(0, fan);
  }
  sync(dev);
  stats_.prefill_s += since(t0);
  t0 = Clock::now();

  // Cache row i decodes completion active[i]; logits has one row per live (unfinished) cache row,
  // in order. Finished rows stay in the cache (their compute is wasted) until a quarter of the
  // rows are finished, then the cache is compacted in place.
  std::vector<int64_t> active = rows;
  std::vector<bool> done(active.size(), false);
  int64_t done_in_cache = 0;
  for (int64_t step = 0; step < req.max_new_tokens; ++step) {
    const int64_t M = static_cast<int64_t>(active.size());
    std::vector<int64_t> live;  // cache rows with a logits row
    for (int64_t i = 0; i < M; ++i)
      if (!done[i]) live.push_back(i);
    const int64_t L = static_cast<int64_t>(live.size());
    std::vector<double> u(L);
    for (int64_t k = 0; k < L; ++k) {
      const Completion& c = out[active[live[k]]];
      u[k] = stream_uniform(req.seed, req.stream_ids.empty() ? c.prompt_index : req.stream_ids[c.prompt_index],
                            c.completion_index, step);
    }
    auto live_idx = L < M ? to_tensor(live).to(dev) : torch::Tensor();
    auto live_seen = seen.defined() && L < M ? seen.index_select(0, live_idx) : seen;
    auto sampled = sample_tokens(logits, req.sampling, live_seen, torch::tensor(u, torch::kFloat64));
    auto toks = sampled.tokens.to(torch::kCPU);
    auto lps = sampled.logprobs.to(torch::kCPU).to(torch::kFloat32);
    auto* tp = toks.data_ptr<int64_t>();
    auto* lp = lps.data_ptr<float>();
    for (int64_t k = 0; k < L; ++k) {
      const int64_t i = live[k];
      Completion& c = out[active[i]];
      c.ids.push_back(tp[k]);
      c.logprobs.push_back(lp[k]);
      stats_.decode_tokens += 1;
      if (req.on_token) req.on_token(c.prompt_index, c.completion_index, tp[k]);
      bool fin = false;
      if (std::find(req.eos_ids.begin(), req.eos_ids.end(), tp[k]) != req.eos_ids.end()) {
        c.finish = FinishReason::kEos;
        fin = true;
      } else if (!req.stop_strings.empty()) {
        std::string text = req.decode(c.ids);
        for (const auto& s : req.stop_strings)
          if (!s.empty() && text.find(s) != std::string::npos) {
            c.finish = FinishReason::kStop;
            fin = true;
          }
      }
      if (!fin && static_cast<int64_t>(c.ids.size()) >= req.max_new_tokens) fin = true;
      if (fin) {
        done[i] = true;
        ++done_in_cache;
      }
    }
    if (done_in_cache == M) break;
    // The next input of every cache row (finished rows take any token: their output is unused).
    torch::Tensor next = sampled.tokens;
    if (L < M) next = torch::zeros({M}, next.options()).index_copy_(0, live_idx, next);
    if (seen.defined()) seen.scatter_(1, next.unsqueeze(1), true);
    // Compact when a quarter of the rows are finished: the copy costs less than their compute.
    if (done_in_cache * 4 >= M) {
      std::vector<int64_t> keep, keep_active, keep_pos;
      for (int64_t i = 0; i < M; ++i)
        if (!done[i]) {
          keep.push_back(i);
          keep_active.push_back(active[i]);
          keep_pos.push_back(row_pos[i]);
        }
      cache.keep_rows(keep);
      auto k = to_tensor(keep).to(dev);
      next = next.index_select(0, k);
      if (seen.defined()) seen = seen.index_select(0, k);
      active = keep_active;
      row_pos = keep_pos;
      done.assign(active.size(), false);
      done_in_cache = 0;
    }
    auto step_pos = to_tensor(row_pos).to(dev).unsqueeze(1);
    auto h = model_->forward_hidden(next.unsqueeze(1), step_pos, &cache).squeeze(1);  // (M', C)
    stats_.decode_steps += 1;
    stats_.decode_step_rows += h.size(0);
    if (done_in_cache > 0) {
      std::vector<int64_t> rest;
      for (int64_t i = 0; i < static_cast<int64_t>(active.size()); ++i)
        if (!done[i]) rest.push_back(i);
      h = h.index_select(0, to_tensor(rest).to(dev));
    }
    logits = torch::matmul(h, lm_head.t());
    for (auto& p : row_pos) ++p;
  }
  sync(dev);
  stats_.decode_s += since(t0);
  if (req.decode) {
    for (int64_t r : rows) {
      Completion& c = out[r];
      std::vector<int64_t> ids = c.ids;
      if (c.finish == FinishReason::kEos && !ids.empty()) ids.pop_back();
      c.text = req.decode(ids);
      if (c.finish == FinishReason::kStop) {
        size_t cut = std::string::npos;
        for (const auto& s : req.stop_strings) cut = std::min(cut, c.text.find(s));
        if (cut != std::string::npos) c.text.resize(cut);
      }
    }
  }
}

}  // namespace rlvr
