// The GRPO step (grpo-spec.md sections 2, 5, 7, 8; TRL GRPOTrainer semantics) and its setup.
#include "rlvr/train/grpo_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/dist/comm.h"
#include "rlvr/evaluator/evaluator.h"
#include "rlvr/train/grpo_metrics.h"
#include "rlvr/train/schedule.h"

namespace rlvr {

namespace {

// The train split (and the validation split held out of it) of the recipe's dataset; the test
// dataset, when named, must resolve to files.
std::pair<std::vector<Problem>, std::vector<Problem>> load_splits(const GrpoRecipe& r) {
  check_test_dataset(r);
  auto splits = split_validation(load_problems(r.train_dataset_id_or_path, data_options(r, "train")), r.val_fraction,
                                 static_cast<uint64_t>(r.seed));
  RLVR_CHECK(!splits.first.empty(), r.train_dataset_id_or_path, ": no training problems left after the validation split");
  return splits;
}

PromptOptions prompt_options(const GrpoRecipe& r) {
  PromptOptions po = prompt_style_options(r.prompt_style);
  po.shots = r.num_shots;
  po.seed = static_cast<uint64_t>(r.shots_seed);
  po.exemplar_template = r.exemplar_template;
  po.query_template = r.prompt_template;
  po.stop = r.stop_strings;
  po.system_prompt = r.system_prompt;
  po.chat_template_kwargs = ChatTemplate::json::parse(r.chat_template_kwargs.dump());
  return po;
}

GrpoLossOptions loss_options(const GrpoRecipe& r) {
  GrpoLossOptions lo;
  lo.loss_type = r.loss_type;
  lo.beta = r.beta;
  lo.epsilon = r.epsilon;
  lo.epsilon_high = r.epsilon_high.value_or(r.epsilon);
  lo.max_completion_length = r.max_completion_length;
  return lo;
}

}  // namespace

std::vector<std::unique_ptr<RewardFunction>> make_rewards(const GrpoRecipe& r) {
  for (const auto& [name, _] : r.reward_options.items())
    RLVR_CHECK(std::find(r.reward_funcs.begin(), r.reward_funcs.end(), name) != r.reward_funcs.end(),
               "recipe: reward_options names '", name, "', which is not in reward_funcs");
  std::vector<std::unique_ptr<RewardFunction>> out;
  for (const auto& name : r.reward_funcs)
    out.push_back(make_reward(name, r.reward_options.value(name, nlohmann::json::object())));
  RLVR_CHECK(r.reward_weights.empty() || r.reward_weights.size() == out.size(), "recipe: reward_weights has ",
             r.reward_weights.size(), " entries but reward_funcs has ", out.size());
  return out;
}

GrpoTrainer::GrpoTrainer(GrpoRecipe recipe, std::vector<std::unique_ptr<RewardFunction>> rewards)
    : r_(std::move(recipe)), rewards_(std::move(rewards)) {
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
  std::tie(train_, val_) = load_splits(r_);
  PromptOptions po = prompt_options(r_);
  load_chat_template(&po, train_, parent_dir(policy_.tokenizer->path()));
  prompts_ = std::make_unique<PromptBuilder>(train_, std::move(po));
  if (rewards_.empty()) rewards_ = make_rewards(r_);
  std::vector<std::string> names;
  for (const auto& f : rewards_) names.push_back(f->name());
  RLVR_CHECK(names == r_.reward_funcs, "GrpoTrainer: ", names.size(), " rewards given ('", names.empty() ? "" : names[0],
             "' first); reward_funcs must name the given rewards in order");
  weights_ = r_.reward_weights.empty() ? std::vector<double>(rewards_.size(), 1.0) : r_.reward_weights;
  loss_opts_ = loss_options(r_);
  cursor_ = DataCursor(static_cast<int64_t>(train_.size()), static_cast<uint64_t>(r_.seed), r_.shuffle_dataset);
  const double batches_per_epoch = steps_per_epoch() / static_cast<double>(r_.num_iterations);
  total_steps_ = r_.max_steps > 0
                     ? r_.max_steps
                     : static_cast<int64_t>(std::ceil(r_.num_train_epochs * batches_per_epoch)) * r_.num_iterations;
  warmup_steps_ = resolve_warmup_steps(r_.warmup_steps, r_.warmup_ratio, total_steps_);
}

int64_t GrpoTrainer::prompts_per_step() const {
  return global_batch() / r_.num_generations;
}

int64_t GrpoTrainer::global_batch() const { return generation_batch_size(r_, dist::world().world()); }

double GrpoTrainer::steps_per_epoch() const {
  const int64_t B = prompts_per_step();
  return static_cast<double>((static_cast<int64_t>(train_.size()) + B - 1) / B * r_.num_iterations);
}

StepReport GrpoTrainer::step(int64_t step) {
  const bool fresh = step % r_.num_iterations == 0 || !ro_.rewards.defined();
  if (fresh) {
    ro_ = generate(step);     // the next batch of problems -> G completions per prompt
    score(ro_);               // rewards -> group advantages
    reference_logprobs(ro_);  // old (num_iterations > 1) and reference (beta > 0) log-probs
  }
  const Stopwatch clock;
  policy_.model->train();
  opt_->zero_grad();
  const double lr = lr_at(step, total_steps_, warmup_steps_, r_.lr_scheduler_type, r_.learning_rate);
  set_learning_rate(*opt_, lr);
  // This rank's micro-batches; the divisor counts every rank's, so summed gradients are the update.
  const int64_t mb = r_.per_device_train_batch_size, n_mb = (ro_.size() + mb - 1) / mb;
  LossTotals totals;
  for (int64_t b0 = ro_.begin; b0 < ro_.end; b0 += mb) {
    const int64_t b1 = std::min(ro_.end, b0 + mb), o0 = b0 - ro_.begin, o1 = b1 - ro_.begin;
    SequenceLogprobs lp = logprobs(ro_, b0, b1, /*entropy=*/true);
    auto old = ro_.old_logp.defined() ? ro_.old_logp.slice(0, o0, o1) : lp.logp.detach();
    auto ref = ro_.ref_logp.defined() ? ro_.ref_logp.slice(0, o0, o1) : torch::Tensor();
    auto res = grpo_loss(lp.logp, old, ref, ro_.advantages.slice(0, b0, b1).to(lp.logp.device()), lp.mask,
                         loss_opts_, std::max(ro_.loss_tokens, 1.0));
    // dapo is normalised by the whole batch's tokens already; the others average micro-batches.
    auto loss = r_.loss_type == LossType::kDapo ? res.loss : res.loss / static_cast<double>(n_mb);
    loss.backward();
    totals.add(loss.item<double>(), res, lp);
  }
  dist::Comm& comm = dist::world();
  totals.all_reduce(comm);
  const double comm_s = comm.take_comm_seconds();  // the rollout's gathers and the totals
  double grad_norm = 0;
  const bool applied = apply_update(policy_, *opt_, totals.loss, r_.max_grad_norm, &grad_norm);
  const double sync_s = comm.take_comm_seconds();  // the gradient sync (all-reduce or ZeRO-1)
  if (applied) engine_->invalidate_prefix();  // else no update: the run loop counts the step
  return report(step, fresh, applied, totals,
                {{"grad_norm", grad_norm}, {"learning_rate", lr}, {"time/train_s", clock.seconds()},
                 {"time/comm_s", comm_s + sync_s}, {"time/grad_sync_s", sync_s}});
}

StepReport GrpoTrainer::report(int64_t step, bool fresh, bool applied, const LossTotals& totals, Metrics m) {
  const int64_t global = step + 1;
  cumulative_tokens_ += ro_.prompt_tokens + ro_.completion_tokens;
  for (const auto& [k, v] : totals.metrics(r_.beta > 0)) m[k] = v;
  for (const auto& [k, v] : ro_.metrics) m[k] = v;
  m["throughput/train_tokens_per_s"] =
      static_cast<double>(ro_.prompt_tokens + ro_.completion_tokens) / std::max(m["time/train_s"], 1e-9);
  m["num_tokens"] = static_cast<double>(cumulative_tokens_);
  if (r_.eval_steps > 0 && (global % r_.eval_steps == 0 || global == total_steps_)) {
    const Stopwatch clock;
    for (const auto& [k, v] : validate()) m[k] = v;
    m["time/eval_s"] = clock.seconds();
  }
  StepReport rep;
  rep.nonfinite = !applied;
  rep.new_batch = fresh;
  if (rep.nonfinite || (fresh && r_.log_completions)) rep.batch = sample_rows(ro_);  // what the loop writes
  rep.summary = step_summary(m);
  rep.metrics = std::move(m);
  return rep;
}

Metrics GrpoTrainer::validate() {
  std::vector<Problem> probs = val_;
  if (r_.eval_limit > 0 && static_cast<int64_t>(probs.size()) > r_.eval_limit) probs.resize(r_.eval_limit);
  if (probs.empty()) return {};
  EvalOptions opt;  // greedy, the training prompts (same exemplars, templates, stops, truncation)
  opt.prompt = prompts_->options();
  opt.max_new_tokens = r_.max_completion_length;
  opt.max_prompt_length = r_.max_prompt_length.value_or(0);
  policy_.model->eval();
  const EvalOutput out = evaluate(*engine_, *policy_.tokenizer, probs, train_, opt);
  std::vector<RewardSample> samples;
  for (const auto& row : out.completions) {
    const auto i = row["problem_index"].get<int64_t>();
    samples.push_back(reward_sample(probs[i], prompts_->build(probs[i]).full(), row["completion"].get<std::string>()));
  }
  const RewardResult rr = score_all(rewards_, weights_, samples);
  double mean = 0;
  for (double x : rr.total) mean += x / static_cast<double>(rr.total.size());
  return {{"eval_reward", mean},
          {"eval_accuracy", static_cast<double>(out.result.strict_correct) / static_cast<double>(probs.size())}};
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

}  // namespace rlvr
