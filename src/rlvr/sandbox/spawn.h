// One process under rlimits (CPU, address space, file size, open files; not the process count,
// which bwrap's command line sets inside its user namespace) with piped stdin / stdout / stderr
// (and fd 3), a wall deadline and capped output: the process layer under sandbox.cpp.
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
  bool result_channel = false;  // fd 3: a pipe read into Exit::channel
  // The command is bwrap with --json-status-fd N, N the next descriptor after the channel
  // (status_fd()): execute() reads the sandbox's pid 1 from it and, after bwrap has exited, also
  // waits for that pid 1 to end. bwrap may exit as soon as the program has, while its pid 1 is
  // still killing the namespace's other processes; waiting for it means none outlives the call.
  bool bwrap_status = false;
  int status_fd() const { return result_channel ? 4 : 3; }
};

// How the process ended. `status` is waitpid's. `error` is set, with nothing run, when the
// process could not be set up; a program that cannot be executed exits 127 with the reason in
// `err`, as a shell reports it.
struct Exit {
  int status = 0;
  bool timed_out = false;
  bool truncated = false;
  std::string out, err, channel;
  double wall_s = 0;
  std::string error;
  bool bwrap_started = false;  // with Command::bwrap_status: bwrap reported its sandbox's pid 1
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
