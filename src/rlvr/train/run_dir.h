// The run directory of a training run: where it may be (never the model's own folder), who
// writes it (run.lock with the owner's pid), and what counts as a run already there (refused, or
// deleted by overwrite_output_dir). POSIX only, no torch.
#pragma once
#include <string>
#include <vector>

namespace rlvr {

// Refuses (rlvr::Error) an output_dir equal to or inside model_dir, comparing real paths, so a
// run can never write over the model it trains.
void check_output_dir_outside_model(const std::string& output_dir, const std::string& model_dir);

// The entries of dir that a run writes (metrics.jsonl, recipe.json, checkpoint-*, weights,
// tokenizer copies, nonfinite-*.jsonl, ...), sorted; empty when dir holds no run.
std::vector<std::string> run_files(const std::string& dir);
// Deletes run_files(dir); anything else in dir stays.
void clear_run_files(const std::string& dir);

// dir/run.lock holding this process's pid, for the object's lifetime. A lock of a live process
// is an error naming it; a lock of a process that no longer runs is taken over with a notice on
// stderr.
class RunLock {
 public:
  explicit RunLock(const std::string& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  std::string path_;
};

}  // namespace rlvr
