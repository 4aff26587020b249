// Batch layout for training forwards and the gather of completion positions.
#include "rlvr/train/completion_batch.h"

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

}  // namespace rlvr
