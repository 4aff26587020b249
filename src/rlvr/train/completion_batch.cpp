// Batch layout for training forwards and the gather of completion positions.
#include "rlvr/train/completion_batch.h"

#include <algorithm>
#include <numeric>

#include "rlvr/core/error.h"
#include "rlvr/model/kv_cache.h"
#include "rlvr/rl/logprobs.h"

namespace rlvr {

CompletionBatch make_completion_batch(const std::vector<const std::vector<int64_t>*>& prompts,
                                      const std::vector<const std::vector<int64_t>*>& completions,
                                      int64_t Tc, const std::vector<bool>& keep,
                                      int64_t min_shared_prefix) {
  const int64_t M = static_cast<int64_t>(prompts.size());
  // Shared prefix: the longest common prefix of the prompts, less one token.
  int64_t pre = 0;
  if (min_shared_prefix > 0 && M >= 2) {
    int64_t lcp = static_cast<int64_t>(prompts[0]->size());
    for (int64_t i = 1; i < M && lcp > 0; ++i) {
      const auto& a = *prompts[0];
      const auto& p = *prompts[i];
      int64_t n = std::min<int64_t>(lcp, static_cast<int64_t>(p.size()));
      int64_t k = 0;
      while (k < n && a[k] == p[k]) ++k;
      lcp = k;
    }
    if (lcp - 1 >= min_shared_prefix) pre = lcp - 1;
  }
  int64_t T = 0;
  for (int64_t i = 0; i < M; ++i)
    T = std::max<int64_t>(T, static_cast<int64_t>(prompts[i]->size() + completions[i]->size()) - pre);
  CompletionBatch b;
  if (pre > 0) b.prefix_ids = torch::tensor(std::vector<int64_t>(prompts[0]->begin(), prompts[0]->begin() + pre));
  b.ids = torch::zeros({M, T}, torch::kInt64);
  b.positions = torch::full({M, T}, -1, torch::kInt64);
  b.rows = torch::arange(M, torch::kInt64).unsqueeze(1).repeat({1, Tc});
  b.cols = torch::zeros({M, Tc}, torch::kInt64);
  b.targets = torch::zeros({M, Tc}, torch::kInt64);
  b.mask = torch::zeros({M, Tc}, torch::kFloat32);
  for (int64_t i = 0; i < M; ++i) {
    const auto& p = *prompts[i];
    const auto& c = *completions[i];
    // P: prompt tokens of this row in `ids` (those after the shared prefix).
    const int64_t P = static_cast<int64_t>(p.size()) - pre, C = static_cast<int64_t>(c.size());
    std::vector<int64_t> seq(p.begin() + pre, p.end());
    seq.insert(seq.end(), c.begin(), c.end());
    b.ids[i].narrow(0, 0, P + C).copy_(torch::tensor(seq));
    b.positions[i].narrow(0, 0, P + C).copy_(torch::arange(pre, pre + P + C));
    if (C == 0) continue;
    // Completion token j sits at P + j and is predicted by the hidden state at P + j - 1.
    b.cols[i].narrow(0, 0, C).copy_(torch::arange(P - 1, P - 1 + C));
    b.targets[i].narrow(0, 0, C).copy_(torch::tensor(c));
    b.mask[i].narrow(0, 0, C).fill_(keep[i] ? 1.0f : 0.0f);
  }
  return b;
}

torch::Tensor completion_logprobs(CausalLM& model, const CompletionBatch& b, const torch::Device& dev,
                                  int64_t chunk_tokens, double temperature, torch::Tensor* entropy) {
  auto hidden = b.prefix_ids.defined()
                    ? model->forward_hidden_shared_prefix(b.prefix_ids.to(dev), b.ids.to(dev),
                                                          b.positions.to(dev))
                    : model->forward_hidden(b.ids.to(dev), b.positions.to(dev));  // (M, T, C)
  auto sel = hidden.index({b.rows.to(dev), b.cols.to(dev)});                // (M, Tc, C)
  return token_logprobs(sel, model->lm_head_weight(), b.targets.to(dev), chunk_tokens, entropy,
                        temperature);
}

GroupedCompletionBatch make_grouped_completion_batch(const std::vector<const std::vector<int64_t>*>& prompts,
                                                     const std::vector<int64_t>& row_prompt,
                                                     const std::vector<const std::vector<int64_t>*>& completions,
                                                     int64_t Tc, const std::vector<bool>& keep) {
  const int64_t U = static_cast<int64_t>(prompts.size()), M = static_cast<int64_t>(completions.size());
  RLVR_CHECK(static_cast<int64_t>(row_prompt.size()) == M && static_cast<int64_t>(keep.size()) == M,
             "grouped batch: row_prompt and keep need one entry per completion");
  RLVR_CHECK(Tc >= 1, "grouped batch: Tc must be >= 1");
  int64_t Tp = 1;
  for (const auto* p : prompts) {
    RLVR_CHECK(!p->empty(), "grouped batch: empty prompt");
    Tp = std::max<int64_t>(Tp, static_cast<int64_t>(p->size()));
  }
  GroupedCompletionBatch b;
  std::vector<int64_t> ids(U * Tp, 0), pos(U * Tp, -1), last(U);
  for (int64_t u = 0; u < U; ++u) {
    const auto& p = *prompts[u];
    const int64_t P = static_cast<int64_t>(p.size());
    for (int64_t j = 0; j < P; ++j) {
      ids[u * Tp + j] = p[j];
      pos[u * Tp + j] = j;
    }
    last[u] = P - 1;
  }
  b.prompt_ids = torch::tensor(ids, torch::kInt64).view({U, Tp});
  b.prompt_pos = torch::tensor(pos, torch::kInt64).view({U, Tp});
  b.prompt_last = torch::tensor(last, torch::kInt64);
  b.row_prompt = torch::tensor(row_prompt, torch::kInt64);
  const int64_t Tin = std::max<int64_t>(Tc - 1, 1);
  std::vector<int64_t> cids(M * Tin, 0), cpos(M * Tin, -1), tgt(M * Tc, 0);
  std::vector<float> msk(M * Tc, 0.0f);
  for (int64_t i = 0; i < M; ++i) {
    RLVR_CHECK(row_prompt[i] >= 0 && row_prompt[i] < U, "grouped batch: row ", i, " names prompt ",
               row_prompt[i], " of ", U);
    const auto& c = *completions[i];
    const int64_t C = static_cast<int64_t>(c.size());
    RLVR_CHECK(C <= Tc, "grouped batch: completion of ", C, " tokens exceeds Tc = ", Tc);
    b.comp_len.push_back(C);
    const int64_t P = static_cast<int64_t>(prompts[row_prompt[i]]->size());
    // Completion token j is predicted by the prompt's last hidden state (j = 0) or by the hidden
    // state of completion token j - 1, which is input j - 1 at position P + j - 1.
    for (int64_t j = 0; j + 1 < C; ++j) {
      cids[i * Tin + j] = c[j];
      cpos[i * Tin + j] = P + j;
    }
    for (int64_t j = 0; j < C; ++j) {
      tgt[i * Tc + j] = c[j];
      msk[i * Tc + j] = keep[i] ? 1.0f : 0.0f;
    }
  }
  b.comp_ids = torch::tensor(cids, torch::kInt64).view({M, Tin});
  b.comp_pos = torch::tensor(cpos, torch::kInt64).view({M, Tin});
  b.targets = torch::tensor(tgt, torch::kInt64).view({M, Tc});
  b.mask = torch::tensor(msk, torch::kFloat32).view({M, Tc});
  return b;
}

namespace {
// Splits rows sorted by length into at most `max_buckets` runs minimising the padded work
// sum(rows in run * longest input in run); returns the run boundaries (exclusive ends).
std::vector<int64_t> length_buckets(const std::vector<int64_t>& sorted_inputs, int64_t max_buckets) {
  const int64_t M = static_cast<int64_t>(sorted_inputs.size());
  const int64_t inf = INT64_MAX / 4;
  // best[k][j]: least work covering rows [0, j) with k runs; from[k][j]: start of the last run.
  std::vector<std::vector<int64_t>> best(max_buckets + 1, std::vector<int64_t>(M + 1, inf)), from = best;
  best[0][0] = 0;
  for (int64_t k = 1; k <= max_buckets; ++k)
    for (int64_t j = 1; j <= M; ++j)
      for (int64_t i = 0; i < j; ++i)
        if (best[k - 1][i] < inf) {
          const int64_t w = best[k - 1][i] + (j - i) * sorted_inputs[j - 1];
          if (w < best[k][j]) best[k][j] = w, from[k][j] = i;
        }
  int64_t k = 1;
  for (int64_t q = 2; q <= max_buckets; ++q)
    if (best[q][M] < best[k][M]) k = q;
  std::vector<int64_t> ends;
  for (int64_t j = M; j > 0; j = from[k][j], --k) ends.push_back(j);
  std::reverse(ends.begin(), ends.end());
  return ends;
}
}  // namespace

torch::Tensor completion_logprobs(CausalLM& model, const GroupedCompletionBatch& b, const torch::Device& dev,
                                  int64_t chunk_tokens, double temperature, torch::Tensor* entropy) {
  const int64_t U = b.prompt_ids.size(0), M = b.targets.size(0), Tc = b.targets.size(1);
  KVCache prompts;
  auto hp = model->forward_hidden(b.prompt_ids.to(dev), b.prompt_pos.to(dev), &prompts);  // (U, Tp, C)
  auto last = hp.index({torch::arange(U, torch::kInt64).to(dev), b.prompt_last.to(dev)});  // (U, C)
  auto rows = b.row_prompt.to(dev);
  auto sel = last.index_select(0, rows).unsqueeze(1);  // (M, 1, C): predicts completion token 0
  if (Tc > 1) {
    // Rows by input length (C - 1), run in buckets, each padded only to its own longest row.
    std::vector<int64_t> order(M);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return b.comp_len[x] < b.comp_len[y]; });
    std::vector<int64_t> inputs(M);
    for (int64_t i = 0; i < M; ++i) inputs[i] = std::max<int64_t>(b.comp_len[order[i]] - 1, 0);
    prompts.ensure_capacity(inputs.back());  // grow on the U prompt rows, before any fan-out
    std::vector<torch::Tensor> parts;
    int64_t start = 0;
    for (int64_t end : length_buckets(inputs, 4)) {
      const int64_t Tb = inputs[end - 1];
      auto idx = torch::tensor(std::vector<int64_t>(order.begin() + start, order.begin() + end), torch::kInt64);
      if (Tb == 0) {  // one-token completions: the prompt's last state is all they need
        parts.push_back(torch::zeros({end - start, Tc - 1, hp.size(2)}, hp.options()));
      } else {
        KVCache cache = prompts;  // shares the prompt tensors; select_rows makes new ones
        cache.select_rows(b.row_prompt.index_select(0, idx).to(dev));
        auto h = model->forward_hidden(b.comp_ids.index_select(0, idx).narrow(1, 0, Tb).to(dev),
                                       b.comp_pos.index_select(0, idx).narrow(1, 0, Tb).to(dev), &cache);
        parts.push_back(Tb < Tc - 1 ? torch::constant_pad_nd(h, {0, 0, 0, Tc - 1 - Tb}) : h);
      }
      start = end;
    }
    std::vector<int64_t> inverse(M);
    for (int64_t i = 0; i < M; ++i) inverse[order[i]] = i;
    auto hc = torch::cat(parts, 0).index_select(0, torch::tensor(inverse, torch::kInt64).to(dev));  // (M, Tc-1, C)
    sel = torch::cat({sel, hc}, 1);                                                                   // (M, Tc, C)
  }
  return token_logprobs(sel, model->lm_head_weight(), b.targets.to(dev), chunk_tokens, entropy, temperature);
}

SequenceLogprobs sequence_logprobs(CausalLM& model, const SequenceRows& rows, const torch::Device& dev,
                                   const LogprobOptions& opt) {
  SequenceLogprobs out;
  torch::Tensor* ent = opt.entropy ? &out.entropy : nullptr;
  auto plain = make_completion_batch(rows.prompts, rows.completions, opt.Tc, rows.keep,
                                     opt.shared_prefix_min_tokens);
  // Distinct prompts, in order: a row whose prompt differs from the row before starts a group.
  std::vector<const std::vector<int64_t>*> distinct;
  std::vector<int64_t> row_prompt;
  for (size_t i = 0; i < rows.prompts.size(); ++i) {
    if (i == 0 || rows.prompts[i] != rows.prompts[i - 1]) distinct.push_back(rows.prompts[i]);
    row_prompt.push_back(static_cast<int64_t>(distinct.size()) - 1);
  }
  if (plain.prefix_ids.defined() || opt.gradient_checkpointing || distinct.size() == rows.prompts.size()) {
    out.forward_tokens = plain.ids.numel() + (plain.prefix_ids.defined() ? plain.prefix_ids.numel() : 0);
    out.logp = completion_logprobs(model, plain, dev, opt.chunk_tokens, opt.temperature, ent);
    out.mask = plain.mask.to(dev);
    return out;
  }
  auto grouped = make_grouped_completion_batch(distinct, row_prompt, rows.completions, opt.Tc, rows.keep);
  out.forward_tokens = grouped.prompt_ids.numel() + grouped.comp_ids.numel();
  out.logp = completion_logprobs(model, grouped, dev, opt.chunk_tokens, opt.temperature, ent);
  out.mask = grouped.mask.to(dev);
  return out;
}

}  // namespace rlvr

