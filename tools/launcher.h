// The built-in launcher: `rlvr train|sft|eval --nproc-per-node N ...` starts N local workers, each
// the rlvr binary with the same arguments (less --nproc-per-node) and torchrun's environment
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), forwards SIGINT and
// SIGTERM to them and waits for them all. Torch-free (it lives in the rlvr binary); the workers
// read the environment through dist::read_dist_env. See docs/distributed.md.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace rlvr::cli {

// --- pure parts ---

// The count the option's text gives; rlvr::Error (one line) unless it is a whole number >= 1.
int parse_nproc(const std::string& text);
// argv without `--nproc-per-node N` and `--nproc-per-node=N` (up to a `--`): the workers' argv.
std::vector<std::string> worker_argv(const std::vector<std::string>& argv);
// The environment (NAME=VALUE entries) of worker `rank` of `world`: `base` with torchrun's six
// variables set (replaced where `base` has them), every other entry kept.
std::vector<std::string> worker_env(const std::vector<std::string>& base, int rank, int world,
                                    const std::string& master_addr, const std::string& master_port);
// The exit code a waitpid() status stands for: the exit status, or 128 + the signal.
int exit_code(int wait_status);
// The stderr line for worker `rank` that ended with `wait_status` ("" when it exited 0):
// "rlvr: rank 1 exited with status 3" / "rlvr: rank 1 was killed by signal 9 (Killed)".
std::string exit_line(int rank, int wait_status);
// The launcher's exit status from the workers' wait statuses in the order they ended: 0 when all
// exited 0, else the exit code of the first that did not.
int launcher_status(const std::vector<int>& wait_statuses_in_exit_order);

// --- running the workers ---

struct LaunchOptions {
  std::string exe = "/proc/self/exe";  // the program each worker runs (execv)
  std::vector<std::string> argv;       // its argv, argv[0] included
  int nproc = 1;
  // After a worker failed, the live ones get SIGTERM when none has ended for straggler_s seconds,
  // then SIGKILL kill_after_s later (unless the launcher forwarded an interrupt: then the workers
  // are checkpointing and a second Ctrl-C stops them at once).
  double straggler_s = 30, kill_after_s = 10;
};
// Starts o.nproc workers, each in its own process group with worker_env(environ, i, ...) where
// MASTER_ADDR is the environment's or 127.0.0.1 and MASTER_PORT the environment's or a free port
// on 127.0.0.1; forwards each SIGINT and SIGTERM the launcher receives once to every live worker;
// prints exit_line for each worker that fails and returns launcher_status.
int run_workers(const LaunchOptions& o);

// Adds --nproc-per-node N to the `train`, `sft` and `eval` subcommands that `app` holds. When it
// is given and above 1, the parsed command does not run: its workers do (run_workers with argv)
// and the parse ends with CLI::RuntimeError(the launcher's status). One rlvr::Error line when N is
// not a count >= 1, or when RANK / WORLD_SIZE say this process is already a launched worker.
void add_launcher_option(CLI::App& app, int argc, const char* const* argv);

}  // namespace rlvr::cli
