// SFT loop: token-level cross-entropy on completion tokens, averaged over the optimizer step.
#include "rlvr/train/sft_trainer.h"

#include <cmath>
#include <cstdio>

#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/data/prompt.h"
#include "rlvr/dist/comm.h"
#include "rlvr/train/completion_batch.h"
#include "rlvr/train/metrics_log.h"
#include "rlvr/train/schedule.h"

namespace rlvr {

namespace {

// The (prompt, completion) texts of the train split: {"prompt", "completion"} rows in every file
// when the first row has a completion, else problems rendered as a 0-shot prompt and their
// reference solution.
std::vector<std::pair<std::string, std::string>> sft_texts(const SftRecipe& r) {
  check_test_dataset(r);
  const DataOptions d = data_options(r, "train");
  const std::vector<std::string> files = dataset_split_files(r.train_dataset_id_or_path, d.split);
  std::vector<std::pair<std::string, std::string>> texts;
  for (const auto& file : files) {
    const auto rows = read_jsonl_file(file);
    if (file == files.front() && (rows.empty() || !rows[0].contains("completion"))) break;  // problems
    for (size_t i = 0; i < rows.size(); ++i) {
      RLVR_CHECK(rows[i].contains("prompt") && rows[i]["prompt"].is_string() && rows[i].contains("completion") &&
                     rows[i]["completion"].is_string(),
                 file, ":", i + 1, ": needs string fields \"prompt\" and \"completion\"");
      texts.emplace_back(rows[i]["prompt"].get<std::string>(), rows[i]["completion"].get<std::string>());
    }
  }
  if (!texts.empty()) return texts;
  PromptOptions po;
  po.shots = 0;
  for (const auto& p : load_problems(r.train_dataset_id_or_path, d))
    texts.emplace_back(render_template(po.query_template, p, po.collapse_double_dots), reference_completion(p, po));
  return texts;
}

}  // namespace

SftTrainer::SftTrainer(SftRecipe recipe) : r_(std::move(recipe)) {
  RLVR_CHECK(!r_.train_dataset_id_or_path.empty(), "recipe: train_dataset_id_or_path is required");
  policy_ = load_policy(r_);
  opt_ = make_optimizer(policy_, r_);
  const auto& tok = *policy_.tokenizer;
  RLVR_CHECK(!policy_.eos_ids.empty(), r_.model_name_or_path,
             ": no EOS token in config.json or tokenizer_config.json; SFT needs one to end completions");
  const int64_t eos = policy_.eos_ids.front();
  for (const auto& [p, c] : sft_texts(r_)) {
    Example e{to_model_ids(tok.encode(p)), to_model_ids(tok.encode(c))};
    e.completion.push_back(eos);
    const int64_t over = static_cast<int64_t>(e.prompt.size() + e.completion.size()) - r_.max_seq_length;
    if (over > 0) {
      if (over >= static_cast<int64_t>(e.completion.size())) continue;  // nothing left to learn
      e.completion.resize(e.completion.size() - over);
    }
    train_.push_back(std::move(e));
  }
  RLVR_CHECK(!train_.empty(), r_.train_dataset_id_or_path, ": no usable training examples");
  cursor_ = DataCursor(static_cast<int64_t>(train_.size()), static_cast<uint64_t>(r_.seed), true);
  const int64_t per_step = global_batch();
  const int64_t per_epoch = (static_cast<int64_t>(train_.size()) + per_step - 1) / per_step;
  total_steps_ = r_.max_steps > 0 ? r_.max_steps : static_cast<int64_t>(std::ceil(r_.num_train_epochs * per_epoch));
  warmup_steps_ = resolve_warmup_steps(r_.warmup_steps, r_.warmup_ratio, total_steps_);
}

RunOptions SftTrainer::run_options() const {
  RunOptions o = rlvr::run_options(r_, recipe_to_json(r_));
  o.command = "rlvr sft RECIPE";
  return o;
}

TrainResult SftTrainer::train(bool resume) {
  RunOptions o = run_options();
  o.resume = resume;
  return run_training(*this, o);
}

double SftTrainer::steps_per_epoch() const {
  return std::ceil(static_cast<double>(train_.size()) / static_cast<double>(global_batch()));
}

int64_t SftTrainer::global_batch() const {
  return r_.per_device_train_batch_size * r_.gradient_accumulation_steps * dist::world().world();
}

void SftTrainer::restore(const nlohmann::json& st) {
  cursor_ = DataCursor::from_json(st.at("cursor"), static_cast<int64_t>(train_.size()));
}

StepReport SftTrainer::step(int64_t step) {
  const Stopwatch clock;
  policy_.model->train();
  opt_->zero_grad();
  const double lr = lr_at(step, total_steps_, warmup_steps_, r_.lr_scheduler_type, r_.learning_rate);
  set_learning_rate(*opt_, lr);
  dist::Comm& comm = dist::world();
  const auto idx = cursor_.next(global_batch());  // every rank's; this one trains on its share
  const size_t share = idx.size() / static_cast<size_t>(comm.world()), first = share * comm.rank();
  double total_tokens = 0;
  for (int64_t i : idx) total_tokens += static_cast<double>(train_[i].completion.size());
  double loss_sum = 0, correct = 0;
  const auto dev = policy_.device;
  for (size_t b0 = first; b0 < first + share; b0 += r_.per_device_train_batch_size) {
    const size_t b1 = std::min(first + share, b0 + r_.per_device_train_batch_size);
    int64_t Tc = 1;
    std::vector<const std::vector<int64_t>*> ps, cs;
    for (size_t i = b0; i < b1; ++i) {
      const auto& e = train_[idx[i]];
      ps.push_back(&e.prompt);
      cs.push_back(&e.completion);
      Tc = std::max<int64_t>(Tc, static_cast<int64_t>(e.completion.size()));
    }
    auto batch = make_completion_batch(ps, cs, Tc, std::vector<bool>(ps.size(), true));
    auto lp = completion_logprobs(policy_.model, batch, dev, 512, 1.0, nullptr);
    auto m = batch.mask.to(dev);
    auto loss = -(lp * m).sum() / total_tokens;  // token mean over the whole optimizer step
    loss.backward();
    loss_sum += loss.item<double>();
    correct += ((lp.detach() > std::log(0.5)).to(torch::kFloat32) * m).sum().item<double>();
  }
  loss_sum = comm.all_reduce(loss_sum);
  correct = comm.all_reduce(correct);
  double grad_norm = 0;
  StepReport rep;
  rep.nonfinite = !apply_update(policy_, *opt_, loss_sum, r_.max_grad_norm, &grad_norm);  // the loop counts it
  const double secs = clock.seconds();
  rep.metrics = {{"loss", loss_sum},
                 {"grad_norm", grad_norm},
                 {"learning_rate", lr},
                 {"token_accuracy_p50", correct / std::max(total_tokens, 1.0)},
                 {"num_tokens", total_tokens},
                 {"time/train_s", secs},
                 {"time/comm_s", comm.take_comm_seconds()},
                 {"throughput/train_tokens_per_s", total_tokens / std::max(secs, 1e-9)}};
  char buf[160];
  std::snprintf(buf, sizeof(buf), "loss %.4f  lr %.2e  %.0f tok/s", loss_sum, lr, total_tokens / std::max(secs, 1e-9));
  rep.summary = buf;
  const auto& tok = *policy_.tokenizer;
  if (rep.nonfinite)  // the batch for nonfinite-<step>.jsonl (SFT logs no completions)
    for (int64_t i : idx)
      rep.batch.push_back({{"prompt", tok.decode(to_tokenizer_ids(train_[i].prompt))},
                           {"completion", tok.decode(to_tokenizer_ids(train_[i].completion))}});
  return rep;
}

}  // namespace rlvr
