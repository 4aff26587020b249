// A user-defined reward served by a long-lived child process speaking JSON lines: one request
// {"prompt","completion","answer","index","fields"} per line on its stdin (fields: every field
// of the dataset row), one reply {"reward": x|null} per line on its stdout, in order. Crashes,
// timeouts and garbage score 0 and count as errors; errors reach the console as a warning line
// (reward name, count so far, the first error), at most one per warn_interval_s.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "rlvr/core/clock.h"
#include "rlvr/rewards/reward.h"

namespace rlvr {

// Parses one reply line: {"reward": number|null}, a bare number or a bare null; null is NaN (not
// applicable). Anything else (NaN, Infinity, a missing "reward", text) is false with the reason in
// `why` (the line quoted, at most 120 bytes). Never throws: the line comes from a user's process.
bool parse_reward_reply(const std::string& line, double* v, std::string* why);

struct ExternalRewardOptions {
  std::vector<std::string> command;  // argv; a single string runs through /bin/sh -c
  double timeout_s = 10.0;           // longest wait for any one reply
  double startup_timeout_s = 10.0;   // longest wait for the first reply of a (re)started process
  int64_t max_failures = 3;          // crashes/timeouts per batch before the rest score 0 untried
  double warn_interval_s = 60.0;     // seconds between console warnings (the first comes at once)
};

class ExternalReward : public RewardFunction {
 public:
  // Starts the process now; throws rlvr::Error when it cannot be started (bad command).
  ExternalReward(std::string name, ExternalRewardOptions opts);
  ~ExternalReward() override;  // closes its stdin, then kills and reaps it
  ExternalReward(const ExternalReward&) = delete;
  ExternalReward& operator=(const ExternalReward&) = delete;

  const std::string& name() const override { return name_; }
  // Requests are written while replies are read (poll on both pipes), so a script may answer
  // each line as it arrives or read ahead; never deadlocks on full pipes.
  std::vector<double> score(const std::vector<RewardSample>& batch) override;
  int64_t errors() const override { return errors_; }
  int64_t restarts() const { return restarts_; }
  pid_t pid() const { return pid_; }

 private:
  bool start(std::string* why);
  void stop(bool graceful);
  // Reads replies for requests [first, n) while writing lines; returns the index of the first
  // request without a reply, and sets *broken to why when the process died or timed out.
  size_t pump(const std::vector<std::string>& lines, size_t first, std::vector<double>* out,
              std::string* broken);
  void count_errors(int64_t n, const std::string& what);  // keeps the first error's text
  void warn_if_due();  // after a batch with new errors, unless a warning came too recently

  std::string name_;
  ExternalRewardOptions opts_;
  pid_t pid_ = -1;
  int to_child_ = -1;    // our end of the child's stdin (a socket: send without SIGPIPE)
  int from_child_ = -1;  // read end of the child's stdout pipe
  std::string rbuf_;     // bytes read but not yet consumed as lines
  bool fresh_ = false;   // started and has not replied yet (gets startup_timeout_s)
  int64_t errors_ = 0;
  int64_t restarts_ = 0;
  std::string first_error_;
  int64_t warned_errors_ = 0;  // errors_ at the last warning
  Stopwatch since_warning_;  // since the last console warning
};

}  // namespace rlvr
