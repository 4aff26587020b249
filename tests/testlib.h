// Test helpers: where the shared fixtures and the rlvr binary are, a scratch folder, and
// running the CLI and capturing its output.
#pragma once
#include <cstdlib>
#include <string>

namespace rlvr::test {

// ../shared/data (set by ctest as RLVR_SHARED_DATA).
std::string shared_data();
// A fresh empty folder for one test, under the build tree.
std::string scratch_dir(const std::string& name);
// Path of the built rlvr binary (RLVR_BIN).
std::string rlvr_bin();
struct RunResult {
  int status;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs a shell command line; stdin from `input` when given.
RunResult run_cmd(const std::string& cmdline, const std::string& input = "");
// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed): a
// MASTER_PORT for a multi-process test that does not collide with a test running beside it.
int free_tcp_port();

}  // namespace rlvr::test
