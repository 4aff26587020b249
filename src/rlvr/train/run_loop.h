// PROVISIONAL (the runloop branch replaces this file): the contract between a trainer's step and
// the run loop.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rlvr {

struct StepReport {
  std::map<std::string, double> metrics;  // one metrics.jsonl row (non-finite values -> null)
  std::string summary;                    // the middle of the progress line
  bool nonfinite = false;                 // loss or grad norm not finite: the optimizer step was skipped
  std::vector<nlohmann::json> batch;      // this step's samples; empty when the step made none
};

struct TrainResult {
  int64_t steps_done = 0;
  bool interrupted = false;
  std::string output_dir;
};

}  // namespace rlvr
