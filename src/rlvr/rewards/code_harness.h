// The Python test harness of the `code` reward (`tests` rows, MBPP / HumanEval style): the
// harness source, the stdin payload it reads, and the reading of its report. Pass or fail is
// decided by the harness, outside the program's reach: each outcome is a 128-bit random token
// that only the harness knows (it arrives on stdin, never in a file, argv or the environment),
// written to the sandbox's result channel (fd 3, not stdout) only when that outcome happened.
// A token the report lacks is an outcome that did not happen, so a missing result is a
// failed test. docs/rewards.md ("How a test passes") says what this does not guarantee.
#pragma once
#include <string>
#include <vector>

namespace rlvr {

// The harness: `python3 -I -c <this>` with the payload on stdin and a result channel on fd 3.
const std::string& python_test_harness();

// One run's secret tokens (fresh random hex for every run).
struct HarnessTokens {
  std::string syntax;             // the program does not compile
  std::string ran;                // the program ran to its end without an exception
  std::vector<std::string> pass;  // test i passed
};
HarnessTokens make_harness_tokens(size_t num_tests);

// The JSON text the harness reads on stdin.
std::string harness_payload(const std::string& program, const std::string& setup,
                            const std::vector<std::string>& tests, const HarnessTokens& tokens);

struct HarnessReport {
  bool syntax_error = false;
  bool ran = false;
  size_t passed = 0;
};
// Reads the harness's result channel: each token counts when it appears in it.
HarnessReport read_harness_report(const std::string& channel, const HarnessTokens& tokens);

}  // namespace rlvr
