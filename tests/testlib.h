// Test helpers: where the shared fixtures and the rlvr binary are, a scratch folder, and
// running the CLI and capturing its output.
#pragma once
#include <cstdlib>
#include <string>

#include "rlvr/core/net.h"  // free_tcp_port: a MASTER_PORT for multi-process tests

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

}  // namespace rlvr::test
