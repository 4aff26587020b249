// One process under rlimits with piped stdin / stdout / stderr (and fd 3), a wall deadline and
// capped output: the process layer under sandbox.cpp, which builds the bwrap command line.
#pragma once
#include <string>
#include <vector>

#include "rlvr/sandbox/sandbox.h"

namespace rlvr::sandbox {

struct Command {
  std::string path;               // executable to execve (absolute, or relative to cwd)
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // the whole environment
  std::string cwd;
  Limits limits;
  bool set_nproc = false;     // RLIMIT_NPROC before exec (kNone; bwrap sets it inside)
  bool result_channel = false;  // fd 3: a pipe read into Exit::channel
  // The command is bwrap with --json-status-fd N, N the next descriptor after the channel
  // (status_fd()): execute() reads the sandbox's pid 1 from it and, after bwrap has exited, also
  // waits for that pid 1 to end. bwrap may exit as soon as the program has, while its pid 1 is
  // still killing the namespace's other processes; waiting for it means none outlives the call.
  bool bwrap_status = false;
  int status_fd() const { return result_channel ? 4 : 3; }
};

// How the process ended. `status` is waitpid's; `killed` when this layer sent the SIGKILL (the
// deadline). `error` is set, with nothing run, when the process could not be started.
struct Exit {
  int status = 0;
  bool timed_out = false;
  bool truncated = false;
  std::string out, err, channel;
  double wall_s = 0;
  std::string error;
};

// Starts the command in a process group of its own and waits for it: stdin_data is written, the
// outputs are read (output_bytes kept of each), and at limits.timeout_s the group is killed.
// Started as root, the process drops to uid/gid 65534 before exec. It gets SIGKILL when the
// calling thread dies. Thread-safe.
Exit execute(const Command& cmd, const std::string& stdin_data);

// The uid the programs run as: 65534 when this process is root, else its own.
bool drops_privileges();
constexpr unsigned kNobody = 65534;

}  // namespace rlvr::sandbox
