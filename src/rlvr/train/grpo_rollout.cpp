// The parts of a GRPO step before the update (grpo-spec.md sections 2 and 3): the next batch of
// problems, G completions per prompt from the engine, rewards and group advantages, and the old and
// reference log-probs, plus the one log-prob call over a rollout's rows. With several ranks each
// generates, scores and computes log-probs for its own share; completions and rewards are
// all-gathered so advantages and metrics come from the whole batch, identically on every rank.
#include <algorithm>

#include "rlvr/core/clock.h"
#include "rlvr/data/shuffle.h"
#include "rlvr/dist/comm.h"
#include "rlvr/evaluator/evaluator.h"
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

namespace {

nlohmann::json completion_json(const Completion& c) {
  return {{"p", c.prompt_index}, {"c", c.completion_index}, {"ids", c.ids},
          {"lp", c.logprobs},    {"f", static_cast<int>(c.finish)}, {"t", c.text}};
}

Completion completion_from(const nlohmann::json& j) {
  Completion c;
  c.prompt_index = j.at("p").get<int64_t>();
  c.completion_index = j.at("c").get<int64_t>();
  c.ids = j.at("ids").get<std::vector<int64_t>>();
  c.logprobs = j.at("lp").get<std::vector<float>>();
  c.finish = static_cast<FinishReason>(j.at("f").get<int>());
  c.text = j.at("t").get<std::string>();
  return c;
}

// Every rank's completions, in rank order (the ranks' shares are consecutive whole groups, so
// this is the batch's (prompt, completion) order).
std::vector<Completion> all_gather_completions(dist::Comm& comm, const std::vector<Completion>& mine) {
  if (comm.single()) return mine;
  nlohmann::json j = nlohmann::json::array();
  for (const Completion& c : mine) j.push_back(completion_json(c));
  std::vector<Completion> out;
  for (const std::string& part : comm.all_gather_bytes(j.dump()))
    for (const auto& e : nlohmann::json::parse(part)) out.push_back(completion_from(e));
  return out;
}

// The batch's reward table from every rank's share: per-function rows and totals concatenated
// in rank order.
RewardResult all_gather_rewards(dist::Comm& comm, const RewardResult& mine) {
  if (comm.single()) return mine;
  const int64_t K = static_cast<int64_t>(mine.per_func.size()), n = static_cast<int64_t>(mine.total.size());
  auto t = torch::empty({K + 1, n}, torch::kFloat64);
  for (int64_t k = 0; k <= K; ++k)
    for (int64_t i = 0; i < n; ++i) t[k][i] = k < K ? mine.per_func[k][i] : mine.total[i];
  const auto all = torch::cat(comm.all_gather(t), 1).contiguous();
  RewardResult rr;
  rr.per_func.resize(K);
  for (int64_t k = 0; k <= K; ++k) {
    const double* row = all[k].data_ptr<double>();
    std::vector<double>& dst = k < K ? rr.per_func[k] : rr.total;
    dst.assign(row, row + all.size(1));
  }
  return rr;
}

}  // namespace

Rollout GrpoTrainer::generate(int64_t step) {
  const Stopwatch clock;
  dist::Comm& comm = dist::world();
  Rollout ro;
  ro.problems = cursor_.next(prompts_per_step());
  for (int64_t i : ro.problems) {
    ro.prompts.push_back(prompts_->build(train_[i]));
    ro.answers.push_back(train_[i].answer);
  }
  const int64_t share = static_cast<int64_t>(ro.problems.size()) / comm.world();  // prompts per rank
  ro.first_prompt = comm.rank() * share;
  ro.begin = ro.first_prompt * r_.num_generations;
  ro.end = ro.begin + share * r_.num_generations;
  ro.prompt_ids = tokenize({ro.prompts.begin() + ro.first_prompt, ro.prompts.begin() + ro.first_prompt + share});
  GenerateRequest req;
  req.n = r_.num_generations;
  req.max_new_tokens = r_.max_completion_length;
  req.sampling = {r_.temperature, r_.top_k, r_.top_p, r_.min_p.value_or(0.0), r_.repetition_penalty};
  req.seed = data::derive_seed(static_cast<uint64_t>(r_.seed), static_cast<uint64_t>(step));
  for (int64_t i = 0; i < share; ++i) req.stream_ids.push_back(ro.first_prompt + i);  // the global index
  req.eos_ids = policy_.eos_ids;
  req.stop_strings = r_.stop_strings;
  req.decode = stream_decoding(*policy_.tokenizer, /*skip_special_tokens=*/true);
  policy_.model->eval();
  std::vector<Completion> mine = generate_prompts(*engine_, ro.prompt_ids, req);
  for (Completion& c : mine) {
    c.prompt_index += ro.first_prompt;
    ro.prompt_tokens += static_cast<int64_t>(ro.prompt_ids.full[c.prompt_index - ro.first_prompt].size());
  }
  ro.prompt_tokens = static_cast<int64_t>(comm.all_reduce(static_cast<double>(ro.prompt_tokens)));
  ro.completions = all_gather_completions(comm, mine);
  for (const Completion& c : ro.completions) {
    ro.completion_tokens += static_cast<int64_t>(c.ids.size());
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
  dist::Comm& comm = dist::world();
  std::vector<RewardSample> samples;
  for (int64_t i = ro.begin; i < ro.end; ++i) {
    const Completion& c = ro.completions[i];
    samples.push_back(reward_sample(train_[ro.problems[c.prompt_index]], ro.prompts[c.prompt_index].full(), c.text));
  }
  const RewardResult rr = all_gather_rewards(comm, score_all(rewards_, weights_, samples));
  const RewardCounts counts = reward_counts(rewards_, comm);
  ro.rewards = torch::tensor(std::vector<float>(rr.total.begin(), rr.total.end()));
  ro.advantages = compute_advantages(ro.rewards, r_.num_generations, r_.scale_rewards);
  const RewardStats stats = reward_stats(ro.rewards, r_.num_generations, r_.scale_rewards);
  for (const auto& [k, v] : reward_metrics(rewards_, rr, counts, stats)) ro.metrics[k] = v;
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
    rows.prompts.push_back(&ro.prompt_of(i));
    rows.completions.push_back(&c.ids);
    rows.keep.push_back(!(r_.mask_truncated_completions && c.finish == FinishReason::kLength));
  }
  return sequence_logprobs(model ? *model : policy_.model, rows, policy_.device, opt);
}

torch::Tensor GrpoTrainer::logprobs_no_grad(const Rollout& ro, CausalLM* model) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t b0 = ro.begin; b0 < ro.end; b0 += r_.per_device_train_batch_size)
    parts.push_back(logprobs(ro, b0, std::min(ro.end, b0 + r_.per_device_train_batch_size), false, model).logp);
  return torch::cat(parts);
}

}  // namespace rlvr
