// The run loop (run_loop.h): run directory, resume, steps, logs, checkpoints, interrupts.
#include "rlvr/train/run_loop.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/core/interrupt.h"
#include "rlvr/data/shuffle.h"
#include "rlvr/dist/comm.h"
#include "rlvr/train/metrics_log.h"
#include "rlvr/train/run_dir.h"

namespace rlvr {

namespace {

std::string joined(const std::vector<std::string>& items, size_t at_most = 4) {
  std::string s;
  for (size_t i = 0; i < items.size() && i < at_most; ++i) s += (i ? ", " : "") + items[i];
  if (items.size() > at_most) s += ", ...";
  return s;
}

// A sample row as written to completions.jsonl and nonfinite-<step>.jsonl: the step first.
nlohmann::json step_row(int64_t global, const nlohmann::json& sample) {
  nlohmann::json row = {{"step", global}};
  row.update(sample);
  return row;
}

// A run already in output_dir without --resume: refused, or deleted by overwrite_output_dir.
void claim_output_dir(const RunOptions& opt) {
  const auto found = run_files(opt.output_dir);
  RLVR_CHECK(!(opt.resume && opt.overwrite_output_dir), "--resume and overwrite_output_dir: true contradict "
                                                        "each other; drop one");
  if (opt.resume || found.empty()) return;
  RLVR_CHECK(opt.overwrite_output_dir, "output_dir ", opt.output_dir, " already holds a run (", joined(found),
             "); continue it with --resume, or set overwrite_output_dir: true to replace it");
  std::fprintf(stderr, "notice: overwrite_output_dir: deleting the run in %s (%s)\n", opt.output_dir.c_str(),
               joined(found).c_str());
  clear_run_files(opt.output_dir);
}

// One stderr line per recipe key that differs from the checkpoint's; refuses changes to keys
// that alter the run's math unless --set names them on this command line.
void check_recipe_changes(const nlohmann::json& saved, const RunOptions& opt, const std::string& ck) {
  std::vector<std::string> refused;
  for (const auto& [key, now] : opt.recipe.items()) {
    if (!saved.contains(key) || saved[key] == now) continue;
    const bool named = std::find(opt.set_keys.begin(), opt.set_keys.end(), key) != opt.set_keys.end();
    const bool allowed = named || resume_may_change(key);
    if (dist::world().is_main())
      std::fprintf(stderr, "resume: %s changed: %s -> %s%s\n", key.c_str(), saved[key].dump().c_str(),
                   now.dump().c_str(), allowed ? "" : " (changes the run's math)");
    if (!allowed) refused.push_back(key);
  }
  RLVR_CHECK(refused.empty(), "resume: ", joined(refused, refused.size()), " differ from the recipe of ", ck,
             " and change the run's math; restore the checkpoint's values, or accept the change by naming each "
             "key with --set KEY=VALUE on this command line");
}

void check_resume_state(const nlohmann::json& st, const TrainingJob& job, const RunOptions& opt,
                        const std::string& ck) {
  const int64_t step = st.at("global_step").get<int64_t>();
  RLVR_CHECK(step <= job.total_steps(), "resume: ", ck, " is at step ", step, " but this run ends at step ",
             job.total_steps(), " (max_steps / num_train_epochs); raise max_steps to continue it. Nothing was "
             "changed");
  if (st.contains("recipe")) check_recipe_changes(st["recipe"], opt, ck);
  const int64_t world = st.value("world_size", int64_t{1}), batch = st.value("global_batch", job.global_batch());
  const int64_t now = dist::world().world();
  RLVR_CHECK(world == now || batch == job.global_batch(), "resume: ", ck, " was written by ", world,
             " process(es) with a global batch of ", batch, " sequences per step, but these ", now, " make ",
             job.global_batch(), "; per_device_train_batch_size x gradient_accumulation_steps x processes must "
             "stay ", batch, " (change gradient_accumulation_steps with --set)");
}

// Loads the newest readable checkpoint (warning about each unreadable newer one) and returns its
// trainer state; null when output_dir has none. The recipe checks use the newest state read.
nlohmann::json resume_run(TrainingJob& job, const RunOptions& opt) {
  const auto cks = checkpoints_newest_first(opt.output_dir);
  const bool main = dist::world().is_main();
  if (cks.empty() && main)
    std::fprintf(stderr, "resume: no checkpoint in %s; starting from step 0\n", opt.output_dir.c_str());
  auto skip = [main](const std::exception& e) {
    if (main) std::fprintf(stderr, "warning: %s; trying the previous checkpoint\n", e.what());
  };
  bool checked = false;
  for (const auto& ck : cks) {
    const std::string state_path = join_path(ck, "trainer_state.json");
    nlohmann::json st;
    try {
      RLVR_CHECK(file_exists(state_path), state_path, ": missing");
      st = read_json_file(state_path);
    } catch (const std::exception& e) {
      skip(e);
      continue;
    }
    if (!checked) check_resume_state(st, job, opt, ck);  // a refusal, not a reason to fall back
    checked = true;
    try {
      load_checkpoint(ck, job.policy(), job.optimizer());
    } catch (const std::exception& e) {
      skip(e);
      continue;
    }
    job.restore(st);
    if (main)
      std::fprintf(stderr, "resumed from %s (step %lld)\n", ck.c_str(), (long long)st.at("global_step").get<int64_t>());
    return st;
  }
  RLVR_CHECK(cks.empty(), "resume: no checkpoint in ", opt.output_dir, " could be read (see the warnings above); "
             "remove the damaged ones, or set overwrite_output_dir: true to start over");
  return nullptr;
}

// Whether any rank was interrupted; a rank that was not adopts the signal, so every rank
// checkpoints the same step and exits the same way.
bool interrupted_anywhere(dist::Comm& comm) {
  const int sig = static_cast<int>(comm.all_reduce(static_cast<double>(interrupt_signal()), dist::ReduceOp::kMax));
  if (sig != 0 && !interrupt_requested()) request_interrupt(sig);
  return sig != 0;
}

// The steps of one run, from `start` to the job's last step. Rank 0 writes the logs.
class Run {
 public:
  Run(TrainingJob& job, const RunOptions& opt, int64_t start, int64_t nonfinite_steps);
  TrainResult run();

 private:
  void record(int64_t global, StepReport& rep);
  void count_nonfinite(int64_t global, const StepReport& rep);
  std::string save(int64_t global);

  TrainingJob& job_;
  const RunOptions& opt_;
  dist::Comm& comm_;
  const int64_t start_;
  int64_t nonfinite_steps_, nonfinite_in_row_ = 0;
  std::unique_ptr<JsonlWriter> metrics_, completions_;  // rank 0's
  Progress progress_;
  Stopwatch since_report_;  // a progress line at least every 30 s
};

Run::Run(TrainingJob& job, const RunOptions& opt, int64_t start, int64_t nonfinite_steps)
    : job_(job),
      opt_(opt),
      comm_(dist::world()),
      start_(start),
      nonfinite_steps_(nonfinite_steps),
      progress_(start, job.total_steps()) {
  if (!comm_.is_main()) return;
  metrics_ = std::make_unique<JsonlWriter>(join_path(opt.output_dir, "metrics.jsonl"), start > 0);
  if (opt.log_completions)
    completions_ = std::make_unique<JsonlWriter>(join_path(opt.output_dir, "completions.jsonl"), start > 0);
}

TrainResult Run::run() {
  TrainResult res;
  res.output_dir = opt_.output_dir;
  res.steps_done = start_;
  const int64_t total = job_.total_steps();
  for (int64_t s = start_; s < total; ++s) {
    StepReport rep = job_.step(s);
    const int64_t global = s + 1;
    if (rep.nonfinite) ++nonfinite_steps_;
    record(global, rep);
    count_nonfinite(global, rep);
    res.steps_done = global;
    const bool stop = interrupted_anywhere(comm_) && global < total;
    if (!job_.can_checkpoint_after(global)) continue;  // an interrupt waits for the next one
    const bool due = opt_.save_steps > 0 && global % opt_.save_steps == 0 && nonfinite_in_row_ == 0;
    if (!stop && !due) continue;  // no scheduled checkpoint during a run of non-finite steps
    const std::string ck = save(global);
    if (stop) {
      if (comm_.is_main())
        std::fprintf(stderr, "interrupted at step %lld (%s saved); continue with: %s --resume%s\n",
                     (long long)global, ck.c_str(), opt_.command.c_str(),
                     opt_.set_keys.empty() ? "" : " and the same --set options");
      res.interrupted = true;
      return res;
    }
  }
  if (comm_.is_main()) save_final(opt_.output_dir, job_.policy());
  comm_.barrier();
  return res;
}

// The metrics row (at logging steps and the last), completions, and the progress line (with
// the metrics, or at least every 30 s).
void Run::record(int64_t global, StepReport& rep) {
  if (!comm_.is_main()) return;
  const int64_t total = job_.total_steps();
  rep.metrics["epoch"] = static_cast<double>(global) / job_.steps_per_epoch();
  rep.metrics["train/nonfinite_steps"] = static_cast<double>(nonfinite_steps_);
  const bool log = global % opt_.logging_steps == 0 || global == total;
  if (log) {
    nlohmann::json row = {{"step", global}};
    for (const auto& [k, v] : rep.metrics) row[k] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
    metrics_->write(row);
  }
  if (completions_ && rep.new_batch)
    for (const auto& sample : rep.batch) completions_->write(step_row(global, sample));
  if (log || since_report_.seconds() >= 30) {
    progress_.report(global, rep.summary + (rep.nonfinite ? "  (non-finite: step skipped)" : ""));
    since_report_.restart();
  }
}

// A non-finite step's batch goes to nonfinite-<step>.jsonl; max_nonfinite_in_row of them in a
// row stop the run, leaving the checkpoints as they are. (Every rank sees the same loss and
// gradient norm, so all of them count the same steps.)
void Run::count_nonfinite(int64_t global, const StepReport& rep) {
  if (!rep.nonfinite) {
    nonfinite_in_row_ = 0;
    return;
  }
  std::string text;
  for (const auto& sample : rep.batch) text += step_row(global, sample).dump() + "\n";
  const std::string file = join_path(opt_.output_dir, "nonfinite-" + std::to_string(global) + ".jsonl");
  if (comm_.is_main()) write_text_file(file, text);
  if (++nonfinite_in_row_ < opt_.max_nonfinite_in_row) return;
  const auto cks = checkpoints_newest_first(opt_.output_dir);
  fail("stopped at step ", global, ": ", nonfinite_in_row_, " steps in a row had a non-finite loss or gradient "
       "norm and were skipped (their batches: ", opt_.output_dir, "/nonfinite-<step>.jsonl); ",
       cks.empty() ? std::string("no checkpoint was written") : "the last checkpoint is " + cks.front(),
       ". Lower learning_rate or max_grad_norm, or check the data and rewards");
}

// Every rank arrives here after the same step.
std::string Run::save(int64_t global) {
  nlohmann::json state = job_.state();
  state["global_step"] = global;
  state["max_steps"] = job_.total_steps();
  state["nonfinite_steps"] = nonfinite_steps_;
  state["world_size"] = comm_.world();
  state["global_batch"] = job_.global_batch();
  state["recipe"] = opt_.recipe;
  const std::string dir = join_path(opt_.output_dir, "checkpoint-" + std::to_string(global));
  save_checkpoint(dir, job_.policy(), job_.optimizer(), state);  // a collective: rank 0 writes
  return dir;
}

// Ranks started with different recipes (or --set options) or different rlvr builds are refused
// before the first step: each rank's hash of its recipe and code is compared with rank 0's.
void check_same_job(dist::Comm& comm, const nlohmann::json& recipe) {
  if (comm.single()) return;
  std::string code;
  for (const std::string& f : dist::code_files()) code += std::to_string(data::fnv1a64(read_text_file(f))) + " ";
  const std::string mine = std::to_string(data::fnv1a64(recipe.dump())) + "|" + code;
  const auto all = comm.all_gather_bytes(mine);
  for (int r = 1; r < comm.world(); ++r) {
    if (all[r] == all[0]) continue;
    const bool recipe_differs = all[r].substr(0, all[r].find('|')) != all[0].substr(0, all[0].find('|'));
    fail("rank ", r, " was started with a different ", recipe_differs ? "recipe (or --set options)" : "rlvr binary",
         " than rank 0; start every rank with the same rlvr build, recipe and options");
  }
}

}  // namespace

RunOptions run_options(const TrainRecipeBase& r, const nlohmann::json& recipe_json) {
  RunOptions o;
  o.output_dir = r.output_dir;
  o.model_dir = r.model_name_or_path;
  o.overwrite_output_dir = r.overwrite_output_dir;
  o.recipe = recipe_json;
  o.logging_steps = std::max<int64_t>(r.logging_steps, 1);
  o.save_steps = r.save_steps;
  return o;
}

TrainResult run_training(TrainingJob& job, const RunOptions& options) {
  dist::Comm& comm = dist::world();
  RunOptions opt = options;  // the recipe as recorded: overwrite_output_dir is an action, not the run
  if (opt.recipe.contains("overwrite_output_dir")) opt.recipe["overwrite_output_dir"] = false;
  check_same_job(comm, opt.recipe);
  std::unique_ptr<RunLock> lock;
  comm.agree([&] {  // rank 0 owns the run directory; its refusal stops every rank
    if (!comm.is_main()) return;
    check_output_dir_outside_model(opt.output_dir, opt.model_dir);
    make_dirs(opt.output_dir);
    lock = std::make_unique<RunLock>(opt.output_dir);
    claim_output_dir(opt);
  });
  nlohmann::json resumed;
  comm.agree([&] { resumed = opt.resume ? resume_run(job, opt) : nlohmann::json(); });
  const int64_t start = resumed.is_null() ? 0 : resumed.at("global_step").get<int64_t>();
  RLVR_CHECK(comm.all_reduce(static_cast<double>(start), dist::ReduceOp::kMin) ==
                 comm.all_reduce(static_cast<double>(start), dist::ReduceOp::kMax),
             "resume: the ranks read different checkpoints of ", opt.output_dir, " (is it on a filesystem every "
             "rank sees whole?)");
  if (comm.is_main()) {
    write_json_file(join_path(opt.output_dir, "recipe.json"), opt.recipe);
    for (const char* log : {"metrics.jsonl", "completions.jsonl"})
      if (start > 0) truncate_metrics(join_path(opt.output_dir, log), start);
  }
  const int64_t nonfinite = resumed.is_null() ? 0 : resumed.value("nonfinite_steps", int64_t{0});
  return Run(job, opt, start, nonfinite).run();
}

}  // namespace rlvr
