// Tests of the built-in launcher (tools/launcher.h): the workers' argv and environment, the exit
// status rule, the process handling with /bin/sh workers that report what they receive (Ctrl-C
// reaches each worker once, a failure is named, stragglers are stopped, workers outlive no
// launcher), and `rlvr train|sft|eval --nproc-per-node` end to end with workers that fail fast.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "launcher.h"
#include "rlvr/core/error.h"
#include "testlib.h"

namespace rlvr {
namespace {

using cli::LaunchOptions;

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(LauncherArgs, NprocIsACountOfAtLeastOne) {
  EXPECT_EQ(cli::parse_nproc("1"), 1);
  EXPECT_EQ(cli::parse_nproc("16"), 16);
  for (const char* bad : {"0", "-1", "two", "2x", "", " 2", "+2", "99999999999999999999"}) {
    try {
      cli::parse_nproc(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("--nproc-per-node " + std::string(bad) + ": ", 0), 0u) << e.what();
    }
  }
}

TEST(LauncherArgs, WorkerArgvDropsTheOptionInBothForms) {
  using V = std::vector<std::string>;
  EXPECT_EQ(cli::worker_argv({"rlvr", "train", "--nproc-per-node", "2", "r.yaml", "--set", "a=1"}),
            (V{"rlvr", "train", "r.yaml", "--set", "a=1"}));
  EXPECT_EQ(cli::worker_argv({"./rlvr", "eval", "--model", "m", "--nproc-per-node=4", "--data", "d"}),
            (V{"./rlvr", "eval", "--model", "m", "--data", "d"}));
  EXPECT_EQ(cli::worker_argv({"rlvr", "sft", "r.yaml"}), (V{"rlvr", "sft", "r.yaml"}));
  // After `--` nothing is an option.
  EXPECT_EQ(cli::worker_argv({"rlvr", "train", "--nproc-per-node", "2", "--", "--nproc-per-node"}),
            (V{"rlvr", "train", "--", "--nproc-per-node"}));
}

TEST(LauncherArgs, WorkerEnvSetsTorchrunsVariablesAndKeepsTheRest) {
  const std::vector<std::string> base = {"HOME=/h", "RANK=7", "OMP_NUM_THREADS=1", "MASTER_PORT=1", "X=a=b"};
  const std::vector<std::string> want = {"HOME=/h",         "OMP_NUM_THREADS=1",  "X=a=b",
                                         "RANK=1",          "WORLD_SIZE=3",       "LOCAL_RANK=1",
                                         "LOCAL_WORLD_SIZE=3", "MASTER_ADDR=10.0.0.1", "MASTER_PORT=29511"};
  EXPECT_EQ(cli::worker_env(base, 1, 3, "10.0.0.1", "29511"), want);
}

TEST(LauncherArgs, ExitStatusIsTheFirstFailure) {
  const int ok = W_EXITCODE(0, 0), failed = W_EXITCODE(3, 0), interrupted = W_EXITCODE(130, 0), killed = SIGKILL;
  EXPECT_EQ(cli::exit_code(ok), 0);
  EXPECT_EQ(cli::exit_code(failed), 3);
  EXPECT_EQ(cli::exit_code(killed), 137);
  EXPECT_EQ(cli::exit_line(0, ok), "");
  EXPECT_EQ(cli::exit_line(2, failed), "rlvr: rank 2 exited with status 3");
  EXPECT_EQ(cli::exit_line(1, killed), "rlvr: rank 1 was killed by signal 9 (Killed)");
  EXPECT_EQ(cli::launcher_status({ok, ok}), 0);
  EXPECT_EQ(cli::launcher_status({ok, killed, failed}), 137);
  EXPECT_EQ(cli::launcher_status({interrupted, interrupted}), 130);
  EXPECT_EQ(cli::launcher_status({}), 0);
}

// --- the process handling, with /bin/sh workers ---

// Worker `rank` runs scripts[rank] (scripts.back() when there are fewer), with $D the test folder.
LaunchOptions sh_workers(const std::string& dir, const std::vector<std::string>& scripts, int nproc) {
  std::string cases = "D=" + dir + "\ncase $RANK in\n";
  for (size_t r = 0; r < scripts.size(); ++r)
    cases += (r + 1 == scripts.size() ? std::string("*") : std::to_string(r)) + ") " + scripts[r] + " ;;\n";
  LaunchOptions o;
  o.exe = "/bin/sh";
  o.argv = {"sh", "-c", cases + "esac\n"};
  o.nproc = nproc;
  return o;
}

// run_workers(o) in a child process that leads its own process group (as a shell's foreground
// job does), stderr to dir/launcher.err, the environment changed by `env` (NAME=VALUE sets, NAME
// unsets).
pid_t launch_in_child(const LaunchOptions& o, const std::string& dir, const std::vector<std::string>& env = {}) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::setpgid(0, 0);
  const int fd = ::open((dir + "/launcher.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::dup2(fd, 2);
  for (const char* name : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(name);
  for (const std::string& e : env) {
    const size_t eq = e.find('=');
    if (eq == std::string::npos) ::unsetenv(e.c_str());
    else ::setenv(e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), 1);
  }
  int status = 1;
  try {
    status = cli::run_workers(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
  }
  ::_exit(status);
}

int exit_status_of(pid_t pid) {
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

// Waits up to 10 s for a file to exist.
bool wait_for_file(const std::string& path) {
  for (int i = 0; i < 1000; ++i) {
    if (::access(path.c_str(), F_OK) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

TEST(LauncherRun, WorkersGetTheirRankAndOneRendezvous) {
  const std::string dir = test::scratch_dir("launcher_env");
  const std::string report = "echo $RANK $WORLD_SIZE $LOCAL_RANK $LOCAL_WORLD_SIZE $MASTER_ADDR $MASTER_PORT "
                             "$KEEP > $D/env.$RANK";
  pid_t pid = launch_in_child(sh_workers(dir, {report}, 3), dir, {"KEEP=kept"});
  ASSERT_EQ(exit_status_of(pid), 0) << slurp(dir + "/launcher.err");
  EXPECT_EQ(slurp(dir + "/launcher.err"), "");
  const std::string env0 = slurp(dir + "/env.0");
  ASSERT_EQ(env0.rfind("0 3 0 3 127.0.0.1 ", 0), 0u) << env0;
  const std::string port = env0.substr(18, env0.find(' ', 18) - 18);
  EXPECT_GT(std::stoi(port), 0) << env0;
  EXPECT_EQ(slurp(dir + "/env.1"), "1 3 1 3 127.0.0.1 " + port + " kept\n");
  EXPECT_EQ(slurp(dir + "/env.2"), "2 3 2 3 127.0.0.1 " + port + " kept\n");
  // The environment's MASTER_ADDR / MASTER_PORT are kept.
  pid = launch_in_child(sh_workers(dir, {report}, 2), dir, {"MASTER_ADDR=10.1.2.3", "MASTER_PORT=23456", "KEEP"});
  ASSERT_EQ(exit_status_of(pid), 0) << slurp(dir + "/launcher.err");
  EXPECT_EQ(slurp(dir + "/env.1"), "1 2 1 2 10.1.2.3 23456\n");
}

TEST(LauncherRun, FailedRanksAreNamedAndTheFirstFailureIsTheStatus) {
  const std::string dir = test::scratch_dir("launcher_fail");
  const pid_t pid = launch_in_child(sh_workers(dir, {"exit 0", "sleep 0.3; exit 5", "kill -9 $$"}, 3), dir);
  EXPECT_EQ(exit_status_of(pid), 137);
  EXPECT_EQ(slurp(dir + "/launcher.err"),
            "rlvr: rank 2 was killed by signal 9 (Killed)\nrlvr: rank 1 exited with status 5\n");
}

// A worker that records each SIGINT / SIGTERM it gets in $D/sig.$RANK and exits `wait` seconds
// after the first with 128 + that signal (or with 1 after 10 s without one).
std::string recording_worker(const std::string& wait) {
  return "c=0; trap 'echo INT >> $D/sig.$RANK; [ $c = 0 ] && c=130' INT; "
         "trap 'echo TERM >> $D/sig.$RANK; [ $c = 0 ] && c=143' TERM; touch $D/ready.$RANK; "
         "i=0; while [ $c = 0 ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done; "
         "[ $c = 0 ] && exit 1; sleep " + wait + "; exit $c";
}

TEST(LauncherRun, CtrlCReachesEachWorkerOnce) {
  const std::string dir = test::scratch_dir("launcher_ctrl_c");
  const pid_t pid = launch_in_child(sh_workers(dir, {recording_worker("0.3")}, 2), dir);
  ASSERT_TRUE(wait_for_file(dir + "/ready.0") && wait_for_file(dir + "/ready.1"));
  ::kill(-pid, SIGINT);  // what a terminal's Ctrl-C does: the whole foreground process group
  EXPECT_EQ(exit_status_of(pid), 130);
  EXPECT_EQ(slurp(dir + "/sig.0"), "INT\n");
  EXPECT_EQ(slurp(dir + "/sig.1"), "INT\n");
  EXPECT_TRUE(has(slurp(dir + "/launcher.err"), "rlvr: rank 1 exited with status 130\n"));
}

TEST(LauncherRun, EachSignalIsForwardedOnce) {
  const std::string dir = test::scratch_dir("launcher_term");
  const pid_t pid = launch_in_child(sh_workers(dir, {recording_worker("0.5")}, 2), dir);
  ASSERT_TRUE(wait_for_file(dir + "/ready.0") && wait_for_file(dir + "/ready.1"));
  ::kill(pid, SIGTERM);
  ASSERT_TRUE(wait_for_file(dir + "/sig.0") && wait_for_file(dir + "/sig.1"));
  ::kill(pid, SIGINT);  // a second interrupt: the workers get it too (rlvr quits at once on it)
  EXPECT_EQ(exit_status_of(pid), 143);
  EXPECT_EQ(slurp(dir + "/sig.0"), "TERM\nINT\n");
  EXPECT_EQ(slurp(dir + "/sig.1"), "TERM\nINT\n");
}

TEST(LauncherRun, StragglersAreStoppedAfterAFailure) {
  const std::string dir = test::scratch_dir("launcher_straggler");
  // Rank 1 ignores SIGTERM (a hung rank, for 10 s at most): SIGKILL follows.
  LaunchOptions o = sh_workers(
      dir, {"exit 3", "trap 'echo TERM >> $D/sig.1' TERM; i=0; while [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done"}, 2);
  o.straggler_s = 0.3;
  o.kill_after_s = 0.3;
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = launch_in_child(o, dir);
  EXPECT_EQ(exit_status_of(pid), 3);
  EXPECT_LT(seconds_since(t0), 5.0);
  EXPECT_EQ(slurp(dir + "/sig.1"), "TERM\n");
  const std::string err = slurp(dir + "/launcher.err");
  EXPECT_EQ(err.rfind("rlvr: rank 0 exited with status 3\n", 0), 0u) << err;
  EXPECT_TRUE(has(err, "rlvr: rank 1 was killed by signal 9 (Killed)\n")) << err;
}

TEST(LauncherRun, AfterAnInterruptSlowWorkersAreLeftToFinish) {
  const std::string dir = test::scratch_dir("launcher_slow_checkpoint");
  // Rank 1 "writes its checkpoint" for 1 s after the interrupt, longer than straggler_s.
  LaunchOptions o = sh_workers(dir, {recording_worker("0"), recording_worker("1")}, 2);
  o.straggler_s = 0.2;
  o.kill_after_s = 0.2;
  const pid_t pid = launch_in_child(o, dir);
  ASSERT_TRUE(wait_for_file(dir + "/ready.0") && wait_for_file(dir + "/ready.1"));
  ::kill(pid, SIGINT);
  EXPECT_EQ(exit_status_of(pid), 130);
  EXPECT_EQ(slurp(dir + "/sig.1"), "INT\n");
  EXPECT_TRUE(has(slurp(dir + "/launcher.err"), "rlvr: rank 1 exited with status 130\n"));
}

TEST(LauncherRun, WorkersGetSigtermWhenTheLauncherDies) {
  const std::string dir = test::scratch_dir("launcher_dies");
  const pid_t pid = launch_in_child(sh_workers(dir, {recording_worker("0")}, 2), dir);
  ASSERT_TRUE(wait_for_file(dir + "/ready.0") && wait_for_file(dir + "/ready.1"));
  ::kill(pid, SIGKILL);
  EXPECT_EQ(exit_status_of(pid), -SIGKILL);
  ASSERT_TRUE(wait_for_file(dir + "/sig.0") && wait_for_file(dir + "/sig.1"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(slurp(dir + "/sig.0"), "TERM\n");
  EXPECT_EQ(slurp(dir + "/sig.1"), "TERM\n");
}

// --- the rlvr binary ---

std::string rlvr(const std::string& args) {
  return "env -u RANK -u WORLD_SIZE -u MASTER_PORT " + test::rlvr_bin() + " " + args;
}

TEST(CliLauncher, TrainSftAndEvalOfferTheOption) {
  for (const char* cmd : {"train", "sft", "eval"}) {
    auto r = test::run_cmd(rlvr(std::string(cmd) + " --help"));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(has(r.out, "--nproc-per-node N")) << cmd << ":\n" << r.out;
  }
}

TEST(CliLauncher, EachWorkerRunsTheCommandAndFailuresAreNamed) {
  // Each worker fails on the recipe with its own line; the launcher names both ranks.
  auto r = test::run_cmd(rlvr("train --nproc-per-node 2 /nonexistent.yaml"));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(count_of(r.err, "rlvr: error: /nonexistent.yaml: cannot open"), 2u) << r.err;
  EXPECT_TRUE(has(r.err, "rlvr: rank 0 exited with status 1\n")) << r.err;
  EXPECT_TRUE(has(r.err, "rlvr: rank 1 exited with status 1\n")) << r.err;
  r = test::run_cmd(rlvr("sft /nonexistent.yaml --nproc-per-node=2"));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(count_of(r.err, "rlvr: error: /nonexistent.yaml: cannot open"), 2u) << r.err;
  EXPECT_EQ(count_of(r.err, " exited with status 1\n"), 2u) << r.err;
}

TEST(CliLauncher, OneProcessRunsTheCommandItself) {
  auto r = test::run_cmd(rlvr("train --nproc-per-node 1 /nonexistent.yaml"));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "rlvr: error: /nonexistent.yaml: cannot open (No such file or directory); check the path\n");
}

TEST(CliLauncher, BadCountsAndNestedLaunchesAreOneLine) {
  for (const char* args : {"train --nproc-per-node 0 r.yaml", "eval --model m --data d --nproc-per-node=two"}) {
    auto r = test::run_cmd(rlvr(args));
    EXPECT_EQ(r.status, 2) << args;  // a usage error (issue 18), like every other bad flag value
    EXPECT_TRUE(has(r.err, ": --nproc-per-node ")) << r.err;
    EXPECT_EQ(r.err.rfind("rlvr: error: rlvr ", 0), 0u) << r.err;
    EXPECT_EQ(count_of(r.err, "\n"), 1u) << r.err;
  }
  // Inside torchrun (RANK / WORLD_SIZE set) the two launchers would nest.
  auto r = test::run_cmd("WORLD_SIZE=2 RANK=0 " + test::rlvr_bin() + " train --nproc-per-node 2 r.yaml");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(has(r.err, "drop --nproc-per-node")) << r.err;
  EXPECT_EQ(count_of(r.err, "\n"), 1u) << r.err;
}

}  // namespace
}  // namespace rlvr
