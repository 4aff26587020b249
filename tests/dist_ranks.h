// Multi-rank tests in one test binary: run_ranks forks `world` children, each joins a real c10d
// group on 127.0.0.1 (a free port) and runs the body. Torch tests only (it links rlvr_dist).
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include "rlvr/core/error.h"
#include "rlvr/dist/comm.h"
#include "testlib.h"

namespace rlvr::test {

// Runs body(comm) in `world` forked ranks joined at 127.0.0.1:port; returns each child's exit
// status (0 when body returned, 1 when it threw; its message goes to stderr).
inline std::vector<int> run_ranks(int world, const std::function<void(dist::Comm&)>& body, int timeout_s = 20) {
  const int port = free_tcp_port();
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    const pid_t pid = fork();
    if (pid == 0) {
      int code = 0;
      try {
        dist::DistEnv env;
        env.rank = r;
        env.world = env.local_world = world;
        env.local_rank = r;
        env.master_port = port;
        dist::ConnectOptions o;
        o.timeout = std::chrono::seconds(timeout_s);
        auto comm = dist::Comm::connect(env, o);
        body(*comm);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "rank %d: %s\n", r, e.what());
        code = 1;
      }
      std::fflush(stderr);
      _exit(code);
    }
    pids.push_back(pid);
  }
  std::vector<int> codes;
  for (pid_t pid : pids) {
    int st = 0;
    waitpid(pid, &st, 0);
    codes.push_back(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  }
  return codes;
}

// A failed check inside a rank's body: the rank exits 1 with the condition on stderr.
#define RANK_CHECK(cond) \
  if (!(cond)) ::rlvr::fail("check failed: " #cond)

}  // namespace rlvr::test
