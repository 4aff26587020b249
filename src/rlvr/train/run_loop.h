// The run loop shared by `rlvr train` (GRPO) and `rlvr sft`: a trainer is a TrainingJob (its
// step, its state); run_training owns everything around the steps: the run directory (refusals,
// lock, recipe record), resume (recipe check, fallback past unreadable checkpoints), the
// checkpoint cadence, metrics.jsonl / completions.jsonl, the progress line, non-finite steps and
// interrupts (docs/recipe.md, "The run directory").
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlvr/train/policy.h"
#include "rlvr/train/recipe.h"

namespace rlvr {

// What one optimizer step did.
struct StepReport {
  std::map<std::string, double> metrics;  // one metrics.jsonl row (non-finite values -> null)
  std::string summary;                    // the middle of the progress line
  bool nonfinite = false;  // loss or grad norm not finite: the optimizer step was skipped
  // The samples this step trained on ({prompt, completion, ...}: GRPO adds answer, reward,
  // advantage, finish_reason), filled when the loop writes them: to nonfinite-<step>.jsonl, and
  // to completions.jsonl when completions are logged and new_batch.
  std::vector<nlohmann::json> batch;
  bool new_batch = true;  // false: the samples of an earlier step again (GRPO num_iterations > 1)
};

// What a trainer gives the run loop.
class TrainingJob {
 public:
  virtual ~TrainingJob() = default;
  virtual int64_t total_steps() const = 0;
  virtual double steps_per_epoch() const = 0;
  // Sequences per optimizer step over all ranks (GRPO: completions). A checkpoint records it with
  // the world size: a resume with another world size must keep it.
  virtual int64_t global_batch() const = 0;
  // Step `step` (0-based): one optimizer update, skipped when the report says nonfinite.
  virtual StepReport step(int64_t step) = 0;
  // Whether a checkpoint after `global_step` steps can resume exactly (GRPO: only at the end of
  // a generation batch's num_iterations updates).
  virtual bool can_checkpoint_after(int64_t /*global_step*/) const { return true; }
  // The job's part of trainer_state.json (data cursor, token counts), and restoring it.
  virtual nlohmann::json state() const = 0;
  virtual void restore(const nlohmann::json& state) = 0;
  virtual Policy& policy() = 0;
  virtual torch::optim::Optimizer& optimizer() = 0;
};

struct RunOptions {
  std::string output_dir;
  std::string model_dir;  // model_name_or_path: output_dir may be neither it nor inside it
  bool resume = false;
  bool overwrite_output_dir = false;
  nlohmann::json recipe;  // recipe_to_json: recipe.json (overwrite_output_dir recorded as false), compared on --resume
  std::vector<std::string> set_keys;   // keys given with --set on this command line
  std::string command = "rlvr train RECIPE";  // how this run was started, for the resume hint
  int64_t logging_steps = 1;
  int64_t save_steps = 0;  // 0: checkpoints only when interrupted
  bool log_completions = false;
  int64_t max_nonfinite_in_row = 3;  // this many non-finite steps in a row stop the run
};
// The options a recipe sets (all but resume, set_keys and command).
RunOptions run_options(const TrainRecipeBase& r, const nlohmann::json& recipe_json);

struct TrainResult {
  int64_t steps_done = 0;
  bool interrupted = false;  // stopped by SIGINT/SIGTERM after writing its checkpoint
  std::string output_dir;
};

// Runs `job` to its last step (or an interrupt) in opt.output_dir; the final weights are saved
// when it completes. Refusals and failures throw rlvr::Error with one line. With several ranks
// (dist::world()) every rank calls it: rank 0 alone owns the run directory and writes the files;
// ranks started with different recipes or binaries are refused before the first step; an
// interrupt on any rank stops all of them after the same step.
TrainResult run_training(TrainingJob& job, const RunOptions& opt);

}  // namespace rlvr
