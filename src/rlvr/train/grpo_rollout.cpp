// The parts of a GRPO step before the update (grpo-spec.md sections 2 and 3): the next batch of
// problems, G completions per prompt from the engine, rewards and group advantages, and the old and
// reference log-probs, plus the one log-prob call over a rollout's rows.
#include <algorithm>

#include "rlvr/core/clock.h"
#include "rlvr/data/shuffle.h"
#include "rlvr/rl/grpo.h"
#include "rlvr/train/grpo_metrics.h"
#include "rlvr/train/grpo_trainer.h"

namespace rlvr {

PromptIds GrpoTrainer::prompt_ids(const std::vector<Problem>& problems) const {
  std::vector<PromptParts> parts;
  for (const Problem& p : problems) parts.push_back(prompts_->build(p));
  return tokenize(parts);
}

PromptIds GrpoTrainer::tokenize(const std::vector<PromptParts>& parts) const {
  return tokenize_prompts(*policy_.tokenizer, parts, r_.max_prompt_length.value_or(0));
}

Rollout GrpoTrainer::generate(int64_t step) {
  const Stopwatch clock;
  Rollout ro;
  ro.problems = cursor_.next(prompts_per_step());
  for (int64_t i : ro.problems) {
    ro.prompts.push_back(prompts_->build(train_[i]));
    ro.answers.push_back(train_[i].answer);
  }
  ro.prompt_ids = tokenize(ro.prompts);
  GenerateRequest req;
  req.n = r_.num_generations;
  req.max_new_tokens = r_.max_completion_length;
  req.sampling = {r_.temperature, r_.top_k, r_.top_p, r_.min_p.value_or(0.0), r_.repetition_penalty};
  req.seed = data::derive_seed(static_cast<uint64_t>(r_.seed), static_cast<uint64_t>(step));
  req.eos_ids = policy_.eos_ids;
  req.stop_strings = r_.stop_strings;
  req.decode = stream_decoding(*policy_.tokenizer, /*skip_special_tokens=*/true);
  policy_.model->eval();
  ro.completions = generate_prompts(*engine_, ro.prompt_ids, req);
  for (const Completion& c : ro.completions) {
    ro.completion_tokens += static_cast<int64_t>(c.ids.size());
    ro.prompt_tokens += static_cast<int64_t>(ro.prompt_ids.full[c.prompt_index].size());
    if (!(r_.mask_truncated_completions && c.finish == FinishReason::kLength))
      ro.loss_tokens += static_cast<double>(c.ids.size());
  }
  ro.metrics = length_metrics(ro.completions);
  ro.metrics["time/generate_s"] = clock.seconds();
  ro.metrics["throughput/gen_tokens_per_s"] = ro.completion_tokens / std::max(clock.seconds(), 1e-9);
  return ro;
}

void GrpoTrainer::score(Rollout& ro) {
  const Stopwatch clock;
  std::vector<RewardSample> samples;
  for (const Completion& c : ro.completions)
    samples.push_back({ro.prompts[c.prompt_index].full(), c.text, ro.answers[c.prompt_index]});
  const RewardResult rr = score_all(rewards_, weights_, samples);
  ro.rewards = torch::tensor(std::vector<float>(rr.total.begin(), rr.total.end()));
  ro.advantages = compute_advantages(ro.rewards, r_.num_generations, r_.scale_rewards);
  for (const auto& [k, v] : reward_metrics(rewards_, rr, reward_stats(ro.rewards, r_.num_generations, r_.scale_rewards)))
    ro.metrics[k] = v;
  ro.metrics["time/score_s"] = clock.seconds();
}

void GrpoTrainer::reference_logprobs(Rollout& ro) {
  const Stopwatch clock;
  if (r_.num_iterations > 1) ro.old_logp = logprobs_no_grad(ro, nullptr);
  if (r_.beta > 0 && !ref_model_.is_empty()) {
    ro.ref_logp = logprobs_no_grad(ro, &ref_model_);
  } else if (r_.beta > 0) {  // LoRA: the same weights with the adapters off
    policy_.model->set_adapters_enabled(false);
    ro.ref_logp = logprobs_no_grad(ro, nullptr);
    policy_.model->set_adapters_enabled(true);
  }
  ro.metrics["time/logprob_s"] = clock.seconds();
}

SequenceLogprobs GrpoTrainer::logprobs(const Rollout& ro, int64_t b0, int64_t b1, bool entropy, CausalLM* model) {
  LogprobOptions opt;
  for (const Completion& c : ro.completions) opt.Tc = std::max<int64_t>(opt.Tc, static_cast<int64_t>(c.ids.size()));
  opt.chunk_tokens = r_.logprob_chunk_tokens;
  opt.temperature = r_.temperature;
  opt.shared_prefix_min_tokens = r_.shared_prefix_min_tokens;
  opt.gradient_checkpointing = r_.gradient_checkpointing;
  opt.entropy = entropy;
  SequenceRows rows;
  for (int64_t i = b0; i < b1; ++i) {
    const Completion& c = ro.completions[i];
    rows.prompts.push_back(&ro.prompt_ids.full[c.prompt_index]);
    rows.completions.push_back(&c.ids);
    rows.keep.push_back(!(r_.mask_truncated_completions && c.finish == FinishReason::kLength));
  }
  return sequence_logprobs(model ? *model : policy_.model, rows, policy_.device, opt);
}

torch::Tensor GrpoTrainer::logprobs_no_grad(const Rollout& ro, CausalLM* model) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t b0 = 0; b0 < ro.size(); b0 += r_.per_device_train_batch_size)
    parts.push_back(logprobs(ro, b0, std::min(ro.size(), b0 + r_.per_device_train_batch_size), false, model).logp);
  return torch::cat(parts);
}

}  // namespace rlvr
