// The `code` reward: runs the program in a completion against the tests of its dataset row, in
// the sandbox (rlvr/sandbox), and scores it by the published rule (code_score). Rows carry
// `tests` (Python statements run after the program by code_harness.h) or `test_cases`
// (stdin/stdout pairs, any language of the table). docs/rewards.md ("Reward `code`") is the
// user's description: options, row formats, what the sandbox and the harness guarantee.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rlvr/rewards/reward.h"
#include "rlvr/sandbox/sandbox.h"

namespace rlvr {

// How a language is compiled and run in the sandbox's working directory.
struct CodeLanguage {
  std::string file;                   // the program's file name
  std::vector<std::string> compile;   // argv; empty: no compile step
  std::vector<std::string> run;       // argv of one test run (stdin = the test's input)
  std::vector<std::string> fences;    // fence tags that mark a block in this language
  std::vector<std::string> ro_binds;  // extra host paths the toolchain needs (read-only)
};

struct CodeRewardOptions {
  double timeout_s = 5;           // per program run
  int64_t memory_mb = 1024;       // per program run (address space)
  double compile_timeout_s = 30;  // per compile
  int64_t compile_memory_mb = 2048;
  int workers = 0;                  // programs run at once; 0 = the number of cores
  double partial = 0.25;            // the score of a program that runs but fails a test
  bool fraction = false;            // mode "fraction": partial + (1 - partial) x passed / total
  bool require_fence = true;        // false: a completion without any fence is the program
  std::string language = "python";  // when the row has no "language"
  std::map<std::string, CodeLanguage> languages;  // python and cpp, plus the options' table
  sandbox::Isolation isolation = sandbox::Isolation::kBwrap;
};

// Validates the JSON options (unknown keys, types, ranges); throws rlvr::Error naming the key.
CodeRewardOptions code_reward_options(const std::string& name, const nlohmann::json& o);

// The published rule: 0 when the program never ran (no program, a syntax or compile error, a
// crash or timeout before any test ran); 1 when all `total` tests passed; else `partial`, or in
// fraction mode partial + (1 - partial) x passed / total.
double code_score(bool ran, size_t passed, size_t total, const CodeRewardOptions& o);

// The code reward's cumulative counts, each per completion (rewards/<name>/<counter>).
struct CodeCounters {
  int64_t errors = 0;          // bad rows and sandbox failures (scored 0; not the model's fault)
  int64_t timeouts = 0;        // a run of the program hit timeout_s
  int64_t memory_kills = 0;    // a run of the program ran out of memory
  int64_t compile_errors = 0;  // a syntax error (Python) or a failed compile
  int64_t sandbox_errors = 0;  // the sandbox itself failed
};

class CodeReward : public RewardFunction {
 public:
  // Refuses (rlvr::Error, one line naming the fix) when the sandbox cannot run here; with
  // isolation kNone prints a warning instead.
  CodeReward(std::string name, CodeRewardOptions opts);
  const std::string& name() const override { return name_; }
  // The batch runs through the pool; scores are in batch order whatever the pool size. NaN for a
  // row without tests.
  std::vector<double> score(const std::vector<RewardSample>& batch) override;
  int64_t errors() const override { return counts_.errors; }
  std::vector<std::pair<std::string, int64_t>> counters() const override;

 private:
  std::string name_;
  CodeRewardOptions opts_;
  sandbox::Pool pool_;
  CodeCounters counts_;
  std::string first_error_;  // printed once, when it happens
};

}  // namespace rlvr
