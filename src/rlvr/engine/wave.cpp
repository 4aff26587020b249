// The phases of one engine wave: prefill layout and forward, fan-out to completions, seeded
// draws, EOS / stop-string / length checks on each new token, compaction of finished rows, the
// decode forward step, and the completion texts.
#include "rlvr/engine/wave.h"

#include <algorithm>

namespace rlvr {

Wave::Wave(CausalLM& model, EngineStats& stats, const GenerateRequest& req, const std::vector<int64_t>& rows,
           std::vector<Completion>& out)
    : model_(model),
      stats_(stats),
      req_(req),
      rows_(rows),
      out_(out),
      dev_(model->model->embed_tokens->weight.device()),
      lm_head_(model->lm_head_weight()),
      done_(rows.size(), false) {
  for (size_t j = 0; j < rows.size(); ++j) active_.push_back(static_cast<int64_t>(j));
  if (req.decode)
    for (size_t j = 0; j < rows.size(); ++j) texts_.push_back(req.decode());
  for (const auto& s : req.stop_strings) stop_tail_ = std::max(stop_tail_, s.size() - 1);
}

PrefillLayout Wave::layout() const {
  PrefillLayout l;
  int64_t last_prompt = -1;
  for (int64_t r : rows_) {
    const int64_t p = out_[r].prompt_index;
    if (!req_.share_prefix || l.seqs.empty() || last_prompt != p) {
      std::vector<int64_t> s;
      if (!req_.share_prefix) s = req_.shared_prefix;
      s.insert(s.end(), req_.prompts[p].begin(), req_.prompts[p].end());
      l.seqs.push_back(std::move(s));
      last_prompt = p;
    }
    l.row_to_seq.push_back(static_cast<int64_t>(l.seqs.size()) - 1);
  }
  return l;
}

torch::Tensor Wave::prefill(const KVCache& prefix, PrefillLayout& l) {
  const int64_t base = prefix.prefix_len;
  size_t Tmax = 0;
  for (const auto& s : l.seqs) Tmax = std::max(Tmax, s.size());
  const int64_t S = static_cast<int64_t>(l.seqs.size()), T = static_cast<int64_t>(Tmax);
  // Right-padded ids; padding has position -1.
  auto ids = torch::zeros({S, T}, torch::kInt64);
  auto pos = torch::full({S, T}, -1, torch::kInt64);
  std::vector<int64_t> last_idx(S);
  l.next_pos.assign(S, 0);
  for (int64_t i = 0; i < S; ++i) {
    const int64_t len = static_cast<int64_t>(l.seqs[i].size());
    ids[i].narrow(0, 0, len).copy_(to_tensor(l.seqs[i]));
    pos[i].narrow(0, 0, len).copy_(torch::arange(base, base + len, torch::kInt64));
    l.next_pos[i] = base + len;
    last_idx[i] = len - 1;
    stats_.prefill_tokens += len;
  }
  cache_ = prefix;
  auto hidden = model_->forward_hidden(ids.to(dev_), pos.to(dev_), &cache_);  // (S, T, C)
  auto last = hidden.index({torch::arange(S, torch::kInt64).to(dev_), to_tensor(last_idx).to(dev_)});
  // Logits stay in the model's dtype (bf16 logits are what the float32 upcast would hold): the
  // sampler reads them as they are, with no (rows, V) float32 copy.
  return torch::matmul(last, lm_head_.t());  // (S, V)
}

void Wave::fan_out(const torch::Tensor& seq_logits, const PrefillLayout& l) {
  auto fan = to_tensor(l.row_to_seq).to(dev_);
  cache_.ensure_capacity(req_.max_new_tokens);
  cache_.select_rows(fan);
  logits_ = seq_logits.index_select(0, fan);
  for (int64_t s : l.row_to_seq) row_pos_.push_back(l.next_pos[s]);
  if (req_.sampling.repetition_penalty != 1.0) seen_ = repetition_mask(l).to(dev_).index_select(0, fan);
}

// (prefill rows, V) bool: the tokens of each prefill row, the shared prefix included.
torch::Tensor Wave::repetition_mask(const PrefillLayout& l) const {
  const int64_t S = static_cast<int64_t>(l.seqs.size());
  auto seen = torch::zeros({S, model_->config().vocab_size}, torch::kBool);
  for (int64_t i = 0; i < S; ++i) {
    auto t = to_tensor(l.seqs[i]);
    if (req_.share_prefix && !req_.shared_prefix.empty()) t = torch::cat({to_tensor(req_.shared_prefix), t});
    seen[i].index_fill_(0, t, true);
  }
  return seen;
}

// One token for every live row, from its own random stream (seed, prompt, completion, step).
Draw Wave::draw(int64_t step) {
  Draw d;
  const int64_t M = static_cast<int64_t>(active_.size());
  for (int64_t i = 0; i < M; ++i)
    if (!done_[i]) d.live.push_back(i);
  const int64_t L = static_cast<int64_t>(d.live.size());
  std::vector<double> u(L);
  for (int64_t k = 0; k < L; ++k) {
    const Completion& c = completion(active_[d.live[k]]);
    const int64_t stream = req_.stream_ids.empty() ? c.prompt_index : req_.stream_ids[c.prompt_index];
    u[k] = stream_uniform(req_.seed, stream, c.completion_index, step);
  }
  if (L < M) d.live_idx = to_tensor(d.live).to(dev_);
  auto live_seen = seen_.defined() && L < M ? seen_.index_select(0, d.live_idx) : seen_;
  auto sampled = sample_tokens(logits_, req_.sampling, live_seen, torch::tensor(u, torch::kFloat64));
  d.tokens = sampled.tokens;
  d.cpu_tokens = sampled.tokens.to(torch::kCPU);
  d.cpu_logprobs = sampled.logprobs.to(torch::kCPU).to(torch::kFloat32);
  return d;
}

bool Wave::record(const Draw& d) {
  const auto* tp = d.cpu_tokens.data_ptr<int64_t>();
  const auto* lp = d.cpu_logprobs.data_ptr<float>();
  for (size_t k = 0; k < d.live.size(); ++k) {
    const int64_t i = d.live[k];
    Completion& c = completion(active_[i]);
    c.ids.push_back(tp[k]);
    c.logprobs.push_back(lp[k]);
    stats_.decode_tokens += 1;
    if (req_.on_token) req_.on_token(c.prompt_index, c.completion_index, tp[k]);
    if (finished(active_[i], tp[k])) {
      done_[i] = true;
      ++done_in_cache_;
    }
  }
  return done_in_cache_ == static_cast<int64_t>(active_.size());
}

// Whether `token` ends wave row j: an EOS id, a stop string in its text, or the length limit.
bool Wave::finished(int64_t j, int64_t token) {
  Completion& c = completion(j);
  if (std::find(req_.eos_ids.begin(), req_.eos_ids.end(), token) != req_.eos_ids.end()) {
    c.finish = FinishReason::kEos;
    return true;
  }
  if (!texts_.empty() && append_text(j, token)) {
    c.finish = FinishReason::kStop;
    return true;
  }
  return static_cast<int64_t>(c.ids.size()) >= req_.max_new_tokens;
}

// Appends the text `token` completes to row j's text; true when that completes a stop string.
// A stop string that is there now and was not before ends in the new text, so only that and the
// stop_tail_ bytes before it are searched: the cost per token does not grow with the completion.
bool Wave::append_text(int64_t j, int64_t token) {
  std::string& text = completion(j).text;
  const size_t old_size = text.size();
  const size_t from = old_size - std::min(old_size, stop_tail_);
  text += texts_[j]->push(token);
  if (text.size() == old_size) return false;  // no new text, no new stop string
  for (const auto& s : req_.stop_strings)
    if (text.find(s, from) != std::string::npos) return true;
  return false;
}

// The next input of every cache row (finished rows take any token: their output is unused).
torch::Tensor Wave::next_inputs(const Draw& d) {
  torch::Tensor next = d.tokens;
  if (d.live_idx.defined())
    next = torch::zeros({static_cast<int64_t>(active_.size())}, next.options()).index_copy_(0, d.live_idx, next);
  if (seen_.defined()) seen_.scatter_(1, next.unsqueeze(1), true);
  return next;
}

// Compacts when a quarter of the rows are finished: the copy costs less than their compute.
void Wave::compact(torch::Tensor& next) {
  const int64_t M = static_cast<int64_t>(active_.size());
  if (done_in_cache_ * 4 < M) return;
  std::vector<int64_t> keep, keep_active, keep_pos;
  for (int64_t i = 0; i < M; ++i)
    if (!done_[i]) {
      keep.push_back(i);
      keep_active.push_back(active_[i]);
      keep_pos.push_back(row_pos_[i]);
    }
  cache_.keep_rows(keep);
  auto k = to_tensor(keep).to(dev_);
  next = next.index_select(0, k);
  if (seen_.defined()) seen_ = seen_.index_select(0, k);
  active_ = keep_active;
  row_pos_ = keep_pos;
  done_.assign(active_.size(), false);
  done_in_cache_ = 0;
}

// One decode step: every cache row's input at its position; logits for the live rows.
void Wave::forward(const torch::Tensor& next) {
  auto step_pos = to_tensor(row_pos_).to(dev_).unsqueeze(1);
  auto h = model_->forward_hidden(next.unsqueeze(1), step_pos, &cache_).squeeze(1);  // (M, C)
  stats_.decode_steps += 1;
  stats_.decode_step_rows += h.size(0);
  if (done_in_cache_ > 0) {
    std::vector<int64_t> rest;
    for (int64_t i = 0; i < static_cast<int64_t>(active_.size()); ++i)
      if (!done_[i]) rest.push_back(i);
    h = h.index_select(0, to_tensor(rest).to(dev_));
  }
  logits_ = torch::matmul(h, lm_head_.t());
  for (auto& p : row_pos_) ++p;
}

// Each text gets its held-back bytes; a stop string and what follows are cut.
void Wave::finish_texts() {
  for (size_t j = 0; j < texts_.size(); ++j) {
    Completion& c = completion(static_cast<int64_t>(j));
    c.text += texts_[j]->flush();
    if (c.finish != FinishReason::kStop) continue;
    size_t cut = std::string::npos;
    for (const auto& s : req_.stop_strings) cut = std::min(cut, c.text.find(s));
    if (cut != std::string::npos) c.text.resize(cut);
  }
}

}  // namespace rlvr
