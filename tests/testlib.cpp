// Test helpers shared by every test binary (see testlib.h).
#include "testlib.h"

#include "rlvr/core/files.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace rlvr::test {

static std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : fallback;
}

std::string shared_data() { return env_or("RLVR_SHARED_DATA", RLVR_DEFAULT_SHARED); }
std::string rlvr_bin() { return env_or("RLVR_BIN", RLVR_DEFAULT_BIN); }

std::string scratch_dir(const std::string& name) {
  const std::string dir = rlvr::join_path(env_or("RLVR_TEST_TMP", RLVR_DEFAULT_TMP), name);
  rlvr::remove_tree(dir);
  rlvr::make_dirs(dir);
  return dir;
}

static std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RunResult run_cmd(const std::string& cmdline, const std::string& input) {
  std::string dir = scratch_dir("run_cmd_" + std::to_string(::getpid()));
  std::string in = dir + "/in", out = dir + "/out", err = dir + "/err";
  std::ofstream(in, std::ios::binary) << input;
  std::string full = "(" + cmdline + ") <" + in + " >" + out + " 2>" + err;
  int rc = std::system(full.c_str());
  RunResult r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace rlvr::test
