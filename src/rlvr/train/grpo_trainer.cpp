// The GRPO training loop (grpo-spec.md sections 2, 5, 7, 8; TRL GRPOTrainer semantics).
#include "rlvr/train/grpo_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

#include "rlvr/core/error.h"
#include "rlvr/data/shuffle.h"
#include "rlvr/eval/extract.h"
#include "rlvr/rl/grpo.h"
#include "rlvr/rl/logprobs.h"
#include "rlvr/train/completion_batch.h"
#include "rlvr/train/schedule.h"

namespace rlvr {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<int32_t> to32(const std::vector<int64_t>& v) { return {v.begin(), v.end()}; }
std::vector<int64_t> to64(const std::vector<int32_t>& v) { return {v.begin(), v.end()}; }

// Mean and std (population, as TRL logs per-reward std) over the finite entries.
std::pair<double, double> finite_mean_std(const std::vector<double>& xs) {
  double s = 0, s2 = 0;
  int64_t n = 0;
  for (double x : xs)
    if (std::isfinite(x)) {
      s += x;
      s2 += x * x;
      ++n;
    }
  if (n == 0) return {std::nan(""), std::nan("")};
  double m = s / n;
  return {m, std::sqrt(std::max(0.0, s2 / n - m * m))};
}

// Completion lengths, phase times and generation throughput of a rollout.
std::map<std::string, double> rollout_metrics(const Rollout& ro) {
  double len_sum = 0, term_sum = 0;
  int64_t lmin = INT64_MAX, lmax = 0, clipped = 0, term = 0;
  for (const auto& c : ro.completions) {
    const int64_t L = static_cast<int64_t>(c.ids.size());
    len_sum += L;
    lmin = std::min(lmin, L);
    lmax = std::max(lmax, L);
    if (c.finish == FinishReason::kLength) {
      ++clipped;
    } else {
      ++term;
      term_sum += L;
    }
  }
  const double N = static_cast<double>(ro.completions.size());
  return {{"completions/mean_length", len_sum / N},
          {"completions/min_length", static_cast<double>(lmin)},
          {"completions/max_length", static_cast<double>(lmax)},
          {"completions/clipped_ratio", clipped / N},
          {"completions/mean_terminated_length", term ? term_sum / term : 0.0},
          {"time/generate_s", ro.generate_s},
          {"time/score_s", ro.score_s},
          {"time/logprob_s", ro.logprob_s},
          {"throughput/gen_tokens_per_s", ro.completion_tokens / std::max(ro.generate_s, 1e-9)}};
}
}  // namespace

GrpoTrainer::GrpoTrainer(GrpoRecipe recipe) : r_(std::move(recipe)) {
  RLVR_CHECK(!r_.train_dataset_id_or_path.empty(), "recipe: train_dataset_id_or_path is required");
  policy_ = load_policy(r_);
  // The KL reference: with LoRA, the same weights with adapters off; with full fine-tuning, a
  // frozen copy of the starting weights (TRL's ref_model), also after a resume.
  if (r_.beta > 0 && !r_.use_peft) {
    ref_model_ = load_model(r_.model_name_or_path, policy_.dtype, policy_.device);
    ref_model_->eval();
    for (auto& t : ref_model_->parameters()) t.set_requires_grad(false);
  }
  opt_ = make_optimizer(policy_, r_);
  engine_ = std::make_unique<Engine>(policy_.model);
  DataOptions d;
  d.format = r_.dataset_format == DatasetFormat::kGsm8k ? DataFormat::kGsm8k : DataFormat::kJsonl;
  d.question_field = r_.prompt_field;
  d.answer_field = r_.answer_field;
  auto all = load_problems(r_.train_dataset_id_or_path, d);
  std::tie(train_, val_) = split_validation(std::move(all), r_.val_fraction, static_cast<uint64_t>(r_.seed));
  RLVR_CHECK(!train_.empty(), r_.train_dataset_id_or_path, ": no training problems left after the "
                                                           "validation split");
  PromptOptions po;
  po.shots = r_.num_shots;
  po.seed = static_cast<uint64_t>(r_.shots_seed);
  po.exemplar_template = r_.exemplar_template;
  po.query_template = r_.prompt_template;
  po.stop = r_.stop_strings;
  prompts_ = std::make_unique<PromptBuilder>(train_, po);
  for (const auto& [name, _] : r_.reward_options.items())
    RLVR_CHECK(std::find(r_.reward_funcs.begin(), r_.reward_funcs.end(), name) != r_.reward_funcs.end(),
               "recipe: reward_options names '", name, "', which is not in reward_funcs");
  for (const auto& name : r_.reward_funcs)
    rewards_.push_back(make_reward(name, r_.reward_options.value(name, nlohmann::json::object())));
  weights_ = r_.reward_weights.empty() ? std::vector<double>(rewards_.size(), 1.0) : r_.reward_weights;
  RLVR_CHECK(weights_.size() == rewards_.size(), "recipe: reward_weights has ", weights_.size(),
             " entries but reward_funcs has ", rewards_.size());
  cursor_ = DataCursor(static_cast<int64_t>(train_.size()), static_cast<uint64_t>(r_.seed), r_.shuffle_dataset);
  const int64_t B = prompts_per_step();
  const int64_t per_epoch = (static_cast<int64_t>(train_.size()) + B - 1) / B;
  total_steps_ = r_.max_steps > 0
                     ? r_.max_steps
                     : static_cast<int64_t>(std::ceil(r_.num_train_epochs * per_epoch)) * r_.num_iterations;
  warmup_steps_ = resolve_warmup_steps(r_.warmup_steps, r_.warmup_ratio, total_steps_);
}

int64_t GrpoTrainer::prompts_per_step() const {
  return generation_batch_size(r_, 1) / r_.num_generations;
}

GenerateRequest GrpoTrainer::prompt_request(const std::vector<PromptParts>& parts,
                                            std::vector<std::vector<int64_t>>& full) {
  const auto& tok = *policy_.tokenizer;
  auto encode = [&](const std::string& s) {
    auto it = token_cache_.find(s);
    if (it != token_cache_.end()) return it->second;
    auto ids = to64(tok.encode(s));
    if (token_cache_.size() < 64) token_cache_[s] = ids;
    return ids;
  };
  std::map<std::string, int> prefix_count;
  for (const auto& pp : parts) ++prefix_count[pp.prefix];
  std::string shared;
  int best = 0;
  for (const auto& [p, c] : prefix_count)
    if (c > best) best = c, shared = p;
  GenerateRequest req;
  full.clear();
  bool truncated = false;
  for (const auto& pp : parts) {
    std::vector<int64_t> ids = encode(pp.prefix);
    auto suffix = to64(tok.encode(pp.suffix));
    ids.insert(ids.end(), suffix.begin(), suffix.end());
    if (r_.max_prompt_length && static_cast<int64_t>(ids.size()) > *r_.max_prompt_length) {
      ids.erase(ids.begin(), ids.end() - *r_.max_prompt_length);  // keep the right end (TRL)
      truncated = true;
    }
    full.push_back(ids);
  }
  const auto shared_ids = encode(shared);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!truncated && parts[i].prefix == shared)
      req.prompts.emplace_back(full[i].begin() + shared_ids.size(), full[i].end());
    else
      req.prompts.push_back(full[i]);
  }
  if (!truncated) req.shared_prefix = shared_ids;
  return req;
}

Rollout GrpoTrainer::rollout(int64_t step) {
  Rollout ro;
  auto idx = cursor_.next(prompts_per_step());
  std::vector<PromptParts> parts;
  for (int64_t i : idx) parts.push_back(prompts_->build(train_[i]));
  std::vector<std::vector<int64_t>> full;
  GenerateRequest req = prompt_request(parts, full);
  req.n = r_.num_generations;
  req.max_new_tokens = r_.max_completion_length;
  req.sampling = {r_.temperature, r_.top_k, r_.top_p, r_.min_p.value_or(0.0), r_.repetition_penalty};
  req.seed = data::derive_seed(static_cast<uint64_t>(r_.seed), static_cast<uint64_t>(step));
  req.eos_ids = policy_.eos_ids;
  req.stop_strings = r_.stop_strings;
  auto tk = policy_.tokenizer;
  req.decode = [tk](const std::vector<int64_t>& ids) { return tk->decode(to32(ids), true); };
  auto t0 = Clock::now();
  policy_.model->eval();
  ro.completions = engine_->generate(req);
  ro.generate_s = since(t0);

  t0 = Clock::now();
  const int64_t G = r_.num_generations, N = static_cast<int64_t>(ro.completions.size());
  std::vector<RewardSample> samples;
  for (const auto& c : ro.completions) {
    const int64_t p = c.prompt_index;
    ro.prompt_ids.push_back(full[p]);
    ro.prompts.push_back(parts[p].full());
    ro.answers.push_back(train_[idx[p]].answer);
    samples.push_back({ro.prompts.back(), c.text, ro.answers.back()});
    ro.completion_tokens += static_cast<int64_t>(c.ids.size());
    ro.prompt_tokens += static_cast<int64_t>(full[p].size());
  }
  RewardResult rr = score_all(rewards_, weights_, samples);
  for (size_t k = 0; k < rewards_.size(); ++k) {
    auto [m, s] = finite_mean_std(rr.per_func[k]);
    ro.reward_metrics["rewards/" + rewards_[k]->name() + "/mean"] = m;
    ro.reward_metrics["rewards/" + rewards_[k]->name() + "/std"] = s;
    if (rewards_[k]->errors() > 0)
      ro.reward_metrics["rewards/" + rewards_[k]->name() + "/errors"] = static_cast<double>(rewards_[k]->errors());
  }
  ro.rewards = torch::tensor(std::vector<float>(rr.total.begin(), rr.total.end()));
  ro.advantages = compute_advantages(ro.rewards, G, r_.scale_rewards);
  auto stats = reward_stats(ro.rewards, G, r_.scale_rewards);
  ro.reward_metrics["reward"] = stats.reward;
  ro.reward_metrics["reward_std"] = stats.reward_std;
  ro.reward_metrics["frac_reward_zero_std"] = stats.frac_reward_zero_std;
  ro.score_s = since(t0);
  // Old log-probs (num_iterations > 1) and reference log-probs (beta > 0), before any update.
  t0 = Clock::now();
  if (r_.num_iterations > 1)
    ro.old_logp = completion_logprobs(ro, 0, N, false, nullptr, nullptr);
  if (r_.beta > 0 && !ref_model_.is_empty()) {
    ro.ref_logp = completion_logprobs(ro, 0, N, false, nullptr, nullptr, nullptr, &ref_model_);
  } else if (r_.beta > 0) {
    policy_.model->set_adapters_enabled(false);
    ro.ref_logp = completion_logprobs(ro, 0, N, false, nullptr, nullptr);
    policy_.model->set_adapters_enabled(true);
  }
  ro.logprob_s = since(t0);
  return ro;
}

torch::Tensor GrpoTrainer::completion_logprobs(const Rollout& ro, int64_t begin, int64_t end,
                                               bool with_grad, torch::Tensor* entropy,
                                               torch::Tensor* mask, int64_t* forward_tokens, CausalLM* model) {
  const auto dev = policy_.device;
  CausalLM& m = model ? *model : policy_.model;
  int64_t Tc = 0;
  for (const auto& c : ro.completions) Tc = std::max<int64_t>(Tc, static_cast<int64_t>(c.ids.size()));
  Tc = std::max<int64_t>(Tc, 1);
  std::vector<torch::Tensor> outs, ents, masks;
  const int64_t mb = with_grad ? end - begin : r_.per_device_train_batch_size;
  for (int64_t b0 = begin; b0 < end; b0 += mb) {
    const int64_t b1 = std::min(end, b0 + mb);
    std::vector<const std::vector<int64_t>*> ps, cs, distinct;
    std::vector<int64_t> row_prompt;
    std::vector<bool> keep;
    for (int64_t i = b0; i < b1; ++i) {
      const auto& c = ro.completions[i];
      ps.push_back(&ro.prompt_ids[i]);
      cs.push_back(&c.ids);
      keep.push_back(!(r_.mask_truncated_completions && c.finish == FinishReason::kLength));
      // Completions come G per prompt, consecutive: a new prompt starts a new group.
      if (i == b0 || c.prompt_index != ro.completions[i - 1].prompt_index) distinct.push_back(&ro.prompt_ids[i]);
      row_prompt.push_back(static_cast<int64_t>(distinct.size()) - 1);
    }
    torch::AutoGradMode grad_mode(with_grad);
    torch::Tensor ent, lp, msk;
    // Each prompt runs once for its group unless gradient checkpointing is on (the grouped
    // forward goes through a KV cache, which checkpointing does not cover).
    // Three exact paths, cheapest first: a prefix common to every row (the few-shot block) runs
    // once per micro-batch (works with gradient checkpointing); else each prompt runs once for
    // its group (through a KV cache, so not with checkpointing); else rows run whole.
    auto batch = make_completion_batch(ps, cs, Tc, keep, r_.shared_prefix_min_tokens);
    if (batch.prefix_ids.defined() || r_.gradient_checkpointing || distinct.size() == ps.size()) {
      if (forward_tokens)
        *forward_tokens += batch.ids.numel() + (batch.prefix_ids.defined() ? batch.prefix_ids.numel() : 0);
      lp = rlvr::completion_logprobs(m, batch, dev, r_.logprob_chunk_tokens, r_.temperature,
                                     entropy ? &ent : nullptr);
      msk = batch.mask;
    } else {
      auto grouped = make_grouped_completion_batch(distinct, row_prompt, cs, Tc, keep);
      if (forward_tokens) *forward_tokens += grouped.prompt_ids.numel() + grouped.comp_ids.numel();
      lp = rlvr::completion_logprobs(m, grouped, dev, r_.logprob_chunk_tokens, r_.temperature,
                                     entropy ? &ent : nullptr);
      msk = grouped.mask;
    }
    outs.push_back(lp);
    if (entropy) ents.push_back(ent);
    masks.push_back(msk.to(dev));
  }
  if (entropy) *entropy = torch::cat(ents);
  if (mask) *mask = torch::cat(masks);
  return torch::cat(outs);
}

std::map<std::string, double> GrpoTrainer::optimize(Rollout& ro, int64_t step) {
  auto t0 = Clock::now();
  policy_.model->train();
  opt_->zero_grad();
  const double lr = lr_at(step, total_steps_, warmup_steps_, r_.lr_scheduler_type, r_.learning_rate);
  set_learning_rate(*opt_, lr);
  const int64_t N = static_cast<int64_t>(ro.completions.size());
  const int64_t mb = r_.per_device_train_batch_size, n_mb = (N + mb - 1) / mb;
  double total_tokens = 0;
  for (const auto& c : ro.completions)
    if (!(r_.mask_truncated_completions && c.finish == FinishReason::kLength))
      total_tokens += static_cast<double>(c.ids.size());
  GrpoLossOptions lo;
  lo.loss_type = r_.loss_type;
  lo.beta = r_.beta;
  lo.epsilon = r_.epsilon;
  lo.epsilon_high = r_.epsilon_high.value_or(r_.epsilon);
  lo.max_completion_length = r_.max_completion_length;
  double loss_sum = 0, tok = 0, kl = 0, clo = 0, chi = 0, creg = 0, ent = 0;
  int64_t forward_tokens = 0;
  for (int64_t b0 = 0; b0 < N; b0 += mb) {
    const int64_t b1 = std::min(N, b0 + mb);
    torch::Tensor entropy, mask;
    auto logp = completion_logprobs(ro, b0, b1, true, &entropy, &mask, &forward_tokens);
    auto old = ro.old_logp.defined() ? ro.old_logp.slice(0, b0, b1) : logp.detach();
    auto ref = ro.ref_logp.defined() ? ro.ref_logp.slice(0, b0, b1) : torch::Tensor();
    auto res = grpo_loss(logp, old, ref, ro.advantages.slice(0, b0, b1).to(logp.device()), mask, lo,
                         std::max(total_tokens, 1.0));
    // dapo is normalised by the whole batch's tokens already; the others average micro-batches.
    auto loss = r_.loss_type == LossType::kDapo ? res.loss : res.loss / static_cast<double>(n_mb);
    loss.backward();
    loss_sum += loss.item<double>();
    tok += res.num_tokens;
    kl += res.kl_mean * res.num_tokens;
    clo += res.clip_low_mean * res.num_tokens;
    chi += res.clip_high_mean * res.num_tokens;
    creg += res.clip_region_mean * res.num_tokens;
    ent += (entropy * mask).sum().item<double>();
  }
  const double grad_norm = clip_gradients(policy_, r_.max_grad_norm);
  if (update_is_finite(loss_sum, grad_norm)) opt_->step();  // else skipped: the run loop counts it
  opt_->zero_grad();
  engine_->invalidate_prefix();
  const double denom = std::max(tok, 1.0);
  std::map<std::string, double> m = {{"loss", loss_sum},
                                     {"grad_norm", grad_norm},
                                     {"learning_rate", lr},
                                     {"entropy", ent / denom},
                                     {"clip_ratio/low_mean", clo / denom},
                                     {"clip_ratio/high_mean", chi / denom},
                                     {"clip_ratio/region_mean", creg / denom},
                                     {"time/train_s", since(t0)}};
  if (r_.beta > 0) m["kl"] = kl / denom;
  // Token positions the policy forward ran (a shared prefix once per micro-batch, padding included).
  m["train/forward_tokens"] = static_cast<double>(forward_tokens);
  m["throughput/train_tokens_per_s"] =
      static_cast<double>(ro.prompt_tokens + ro.completion_tokens) / std::max(m["time/train_s"], 1e-9);
  return m;
}

std::map<std::string, double> GrpoTrainer::validate(int64_t) {
  std::vector<Problem> probs = val_;
  if (r_.eval_limit > 0 && static_cast<int64_t>(probs.size()) > r_.eval_limit) probs.resize(r_.eval_limit);
  if (probs.empty()) return {};
  // The same prompts as training (shared few-shot prefix prefilled once, same truncation).
  std::vector<PromptParts> parts;
  for (const auto& p : probs) parts.push_back(prompts_->build(p));
  std::vector<std::vector<int64_t>> ids;
  GenerateRequest req = prompt_request(parts, ids);
  req.max_new_tokens = r_.max_completion_length;
  req.sampling.temperature = 0;
  req.eos_ids = policy_.eos_ids;
  req.stop_strings = r_.stop_strings;
  auto tk = policy_.tokenizer;
  req.decode = [tk](const std::vector<int64_t>& ids) { return tk->decode(to32(ids), true); };
  policy_.model->eval();
  auto comps = engine_->generate(req);
  std::vector<RewardSample> samples;
  int64_t correct = 0;
  for (size_t i = 0; i < comps.size(); ++i) {
    samples.push_back({parts[i].full(), comps[i].text, probs[i].answer});
    auto got = extract_strict(comps[i].text);
    correct += got && answers_match(*got, probs[i].answer);
  }
  auto rr = score_all(rewards_, weights_, samples);
  double mean = 0;
  for (double x : rr.total) mean += x / static_cast<double>(rr.total.size());
  return {{"eval_reward", mean},
          {"eval_accuracy", static_cast<double>(correct) / static_cast<double>(probs.size())}};
}

RunOptions GrpoTrainer::run_options() const {
  RunOptions o = rlvr::run_options(r_, recipe_to_json(r_));
  o.log_completions = r_.log_completions;
  return o;
}

TrainResult GrpoTrainer::train(bool resume) {
  RunOptions o = run_options();
  o.resume = resume;
  return run_training(*this, o);
}

double GrpoTrainer::steps_per_epoch() const {
  const int64_t B = prompts_per_step();
  return static_cast<double>((static_cast<int64_t>(train_.size()) + B - 1) / B) * r_.num_iterations;
}

bool GrpoTrainer::can_checkpoint_after(int64_t global_step) const {
  return global_step % r_.num_iterations == 0;  // the next step starts a new generation batch
}

nlohmann::json GrpoTrainer::state() const {
  return {{"cursor", cursor_.to_json()}, {"num_tokens", cumulative_tokens_}};
}

void GrpoTrainer::restore(const nlohmann::json& st) {
  cursor_ = DataCursor::from_json(st.at("cursor"), static_cast<int64_t>(train_.size()));
  cumulative_tokens_ = st.value("num_tokens", int64_t{0});
}

StepReport GrpoTrainer::step(int64_t step) {
  const bool fresh = step % r_.num_iterations == 0 || !current_.rewards.defined();
  if (fresh) current_ = rollout(step);
  Rollout& ro = current_;
  StepReport rep;
  auto& m = rep.metrics = optimize(ro, step);
  rep.nonfinite = !update_is_finite(m.at("loss"), m.at("grad_norm"));
  const int64_t global = step + 1;
  cumulative_tokens_ += ro.prompt_tokens + ro.completion_tokens;
  for (const auto& [k, v] : ro.reward_metrics) m[k] = v;
  for (const auto& [k, v] : rollout_metrics(ro)) m[k] = v;
  m["num_tokens"] = static_cast<double>(cumulative_tokens_);
  if (r_.eval_steps > 0 && (global % r_.eval_steps == 0 || global == total_steps_)) {
    const auto t_eval = Clock::now();
    for (const auto& [k, v] : validate(global)) m[k] = v;
    m["time/eval_s"] = since(t_eval);
  }
  char buf[256];
  std::snprintf(buf, sizeof(buf), "reward %.3f  len %.0f  loss %+.4f  gen %.1fs train %.1fs%s",
                m["reward"], m["completions/mean_length"], m["loss"], ro.generate_s, m["time/train_s"],
                m.count("eval_accuracy") ? (" val acc " + std::to_string(m["eval_accuracy"]).substr(0, 5)).c_str() : "");
  rep.summary = buf;
  rep.new_batch = fresh;
  for (size_t i = 0; i < ro.completions.size(); ++i)
    rep.batch.push_back({{"prompt", ro.prompts[i]},
                         {"completion", ro.completions[i].text},
                         {"answer", ro.answers[i]},
                         {"reward", ro.rewards[static_cast<int64_t>(i)].item<double>()},
                         {"advantage", ro.advantages[static_cast<int64_t>(i)].item<double>()},
                         {"finish_reason", finish_reason_name(ro.completions[i].finish)}});
  return rep;
}

}  // namespace rlvr
