// Sandbox tests: one per hostile program of issue 17 (an infinite loop, a fork bomb, 8 GB, 1 GB to
// stdout, writes outside the working directory, reads of planted files, a TCP connection, killing
// other processes, a background process, a segfault, non-UTF-8 output), each a python3 program
// run through rlvr::sandbox that must end within its timeout + 1.5 s with the host unharmed; then
// steps, the result channel, the pool's order and Isolation::kNone. The bwrap tests skip, saying
// why, where bubblewrap or user namespaces are unavailable.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/sandbox/sandbox.h"
#include "testlib.h"

namespace rlvr::sandbox {
namespace {

constexpr double kTimeout = 2;
constexpr double kWallBound = kTimeout + 1.5;  // a correctness bound, not a speed test

#define SKIP_WITHOUT_BWRAP()                                          \
  do {                                                                \
    const std::string why = bwrap_unavailable_reason();               \
    if (!why.empty()) GTEST_SKIP() << "no sandbox here: " << why;     \
  } while (0)

Step python_step(const std::string& file = "prog.py") {
  Step s;
  s.argv = {"python3", file};
  s.limits.timeout_s = kTimeout;
  return s;
}

// Runs one python3 program (prog.py) as a one-step job.
Outcome python(const std::string& code, Isolation iso = Isolation::kBwrap,
               const std::string& stdin_data = "") {
  Job job;
  job.files.push_back(File{"prog.py", code, false});
  job.steps.push_back(python_step());
  job.steps[0].stdin_data = stdin_data;
  std::vector<Outcome> o = run(job, iso);
  EXPECT_EQ(o.size(), 1u);
  EXPECT_FALSE(o[0].sandbox_error) << o[0].error;
  return o[0];
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Pids of the host's processes whose command line contains `token`.
std::vector<int> processes_with(const std::string& token) {
  std::vector<int> pids;
  for (const std::string& e : list_dir("/proc")) {
    if (e.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = slurp("/proc/" + e + "/cmdline");
    for (char& c : cmd) c = c ? c : ' ';
    if (cmd.find(token) != std::string::npos) pids.push_back(std::stoi(e));
  }
  return pids;
}

TEST(Sandbox, InfiniteLoopIsKilledAtTheTimeout) {
  SKIP_WITHOUT_BWRAP();
  const Outcome o = python("while True:\n    pass\n");
  EXPECT_TRUE(o.timed_out);
  EXPECT_FALSE(o.ok());
  EXPECT_FALSE(o.memory_killed);
  EXPECT_LT(o.wall_s, kWallBound);
}

TEST(Sandbox, ForkBombIsHeldAtTheProcessLimitAndKilled) {
  SKIP_WITHOUT_BWRAP();
  const Outcome o = python(
      "import os\n"
      "while True:\n"
      "    try:\n"
      "        os.fork()\n"
      "    except OSError:\n"
      "        pass\n");
  EXPECT_TRUE(o.timed_out);
  EXPECT_LT(o.wall_s, kWallBound);
  EXPECT_EQ(std::system("true"), 0);  // the host can still start processes
}

TEST(Sandbox, ProcessLimitCountsEachSandboxApart) {
  SKIP_WITHOUT_BWRAP();
  // Job 0 holds every process it may have; job 1, at the same time, still forks 20 children.
  const std::string hog =
      "import os, time\n"
      "n = 0\n"
      "while True:\n"
      "    try:\n"
      "        if os.fork() == 0:\n"
      "            time.sleep(3)\n"
      "            os._exit(0)\n"
      "        n += 1\n"
      "    except OSError:\n"
      "        break\n"
      "print(n)\n"
      "time.sleep(1.5)\n";
  const std::string twenty =
      "import os, time\n"
      "time.sleep(0.5)\n"
      "pids = []\n"
      "for _ in range(20):\n"
      "    pid = os.fork()\n"
      "    if pid == 0:\n"
      "        time.sleep(0.2)\n"
      "        os._exit(0)\n"
      "    pids.append(pid)\n"
      "for p in pids:\n"
      "    os.waitpid(p, 0)\n"
      "print('forked 20')\n";
  std::vector<Job> jobs(2);
  for (int i = 0; i < 2; ++i) {
    jobs[i].files.push_back(File{"prog.py", i == 0 ? hog : twenty, false});
    jobs[i].steps.push_back(python_step());
    jobs[i].steps[0].limits.timeout_s = 4;
  }
  const std::vector<std::vector<Outcome>> r = Pool(2, Isolation::kBwrap).run_all(jobs);
  const int held = std::atoi(r[0][0].out.c_str());
  EXPECT_GT(held, 40) << r[0][0].err;
  EXPECT_LE(held, 64);  // Limits::processes
  EXPECT_EQ(r[1][0].out, "forked 20\n") << r[1][0].err;
  EXPECT_TRUE(r[1][0].ok());
}

TEST(Sandbox, EightGigabytesFailWithAMemoryError) {
  SKIP_WITHOUT_BWRAP();
  const Outcome o = python("x = bytearray(8 * 1024 ** 3)\nprint('allocated')\n");
  EXPECT_FALSE(o.ok());
  EXPECT_TRUE(o.memory_killed) << o.err;
  EXPECT_EQ(o.out, "");
  EXPECT_LT(o.wall_s, kWallBound);
  const Outcome grow = python("chunks = []\nwhile True:\n    chunks.append(bytearray(10 ** 7))\n");
  EXPECT_TRUE(grow.memory_killed) << grow.err;
  EXPECT_LT(grow.wall_s, kWallBound);
}

TEST(Sandbox, OneGigabyteToStdoutIsCapped) {
  SKIP_WITHOUT_BWRAP();
  const Outcome o = python(
      "import sys\n"
      "block = b'x' * (1 << 20)\n"
      "for _ in range(1024):\n"
      "    sys.stdout.buffer.write(block)\n");
  EXPECT_TRUE(o.output_truncated);
  EXPECT_EQ(o.out.size(), size_t(Limits{}.output_bytes));
  EXPECT_LT(o.wall_s, kWallBound);
}

TEST(Sandbox, WritesOutsideTheWorkingDirectoryDoNotReachTheHost) {
  SKIP_WITHOUT_BWRAP();
  const std::string dir = test::scratch_dir("sandbox_outside");
  const std::string victim = join_path(dir, "victim.txt");
  write_text_file(victim, "intact");
  const std::string marker = "/tmp/rlvr-sandbox-escape-" + std::to_string(::getpid());
  const Outcome o = python(
      "import os\n"
      "for path in ['" + victim + "', '" + join_path(dir, "new.txt") + "', '" + marker +
      "', '/etc/passwd', '/usr/escape', '/escape']:\n"
      "    try:\n"
      "        with open(path, 'w') as f:\n"
      "            f.write('owned')\n"
      "        print('wrote', path)\n"
      "    except OSError as e:\n"
      "        print('refused', path, e.errno)\n"
      "try:\n"
      "    os.remove('" + victim + "')\n"
      "except OSError:\n"
      "    pass\n");
  EXPECT_TRUE(o.ok()) << o.err;
  EXPECT_EQ(slurp(victim), "intact");
  EXPECT_EQ(list_dir(dir), std::vector<std::string>{"victim.txt"});
  EXPECT_FALSE(file_exists(marker));  // /tmp inside is the working directory, not the host's
  EXPECT_EQ(o.out.find("wrote /etc"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("wrote /usr"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("wrote /escape"), std::string::npos) << o.out;
}

TEST(Sandbox, PlantedFilesInTempAndHomeAreNotReadable) {
  SKIP_WITHOUT_BWRAP();
  const char* home = std::getenv("HOME");
  const char* tmp = std::getenv("TMPDIR");
  const std::string secret = "s3cret-" + std::to_string(::getpid());
  std::vector<std::string> planted = {
      join_path(tmp && *tmp ? tmp : "/tmp", "rlvr-sandbox-" + secret),
      join_path(test::scratch_dir("sandbox_planted"), "secret.txt")};
  if (home && *home && is_directory(home))
    planted.push_back(join_path(home, ".rlvr-sandbox-" + secret));
  std::string paths;
  for (const std::string& p : planted) {
    write_text_file(p, secret);
    paths += "'" + p + "', ";
  }
  const Outcome o = python(
      "import os\n"
      "for path in [" + paths + "]:\n"
      "    try:\n"
      "        print(open(path).read())\n"
      "    except OSError as e:\n"
      "        print('refused', e.errno)\n"
      "for d in ['/root', '/home', '/tmp', '/proc/1/root']:\n"
      "    try:\n"
      "        print(d, os.listdir(d))\n"
      "    except OSError as e:\n"
      "        print('refused', e.errno)\n");
  for (const std::string& p : planted) ::unlink(p.c_str());
  EXPECT_TRUE(o.ok()) << o.err;
  EXPECT_EQ(o.out.find(secret), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("refused"), std::string::npos) << o.out;
}

TEST(Sandbox, TcpConnectionToALocalListenerReachesNothing) {
  SKIP_WITHOUT_BWRAP();
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  const Outcome o = python(
      "import socket\n"
      "for host in ['127.0.0.1', 'localhost', '10.0.2.2', '8.8.8.8']:\n"
      "    try:\n"
      "        socket.create_connection((host, " + port + "), timeout=0.5).sendall(b'hi')\n"
      "        print('connected', host)\n"
      "    except OSError as e:\n"
      "        print('refused', host)\n");
  const int accepted = ::accept(listener, nullptr, nullptr);
  EXPECT_LT(accepted, 0);  // nobody connected
  if (accepted >= 0) ::close(accepted);
  ::close(listener);
  EXPECT_EQ(o.out.find("connected"), std::string::npos) << o.out;
  EXPECT_LT(o.wall_s, kWallBound);
}

TEST(Sandbox, KillingOtherProcessesReachesNoneOutside) {
  SKIP_WITHOUT_BWRAP();
  const pid_t sleeper = ::fork();
  if (sleeper == 0) {
    ::execlp("sleep", "sleep", "30", nullptr);
    ::_exit(127);
  }
  ASSERT_GT(sleeper, 0);
  const Outcome o = python(
      "import os, signal\n"
      "for pid in [" + std::to_string(sleeper) + ", " + std::to_string(::getpid()) +
      ", os.getppid(), 1]:\n"
      "    try:\n"
      "        os.kill(pid, signal.SIGKILL)\n"
      "    except OSError as e:\n"
      "        print('refused', pid, e.errno)\n"
      "try:\n"
      "    os.kill(-1, signal.SIGKILL)\n"
      "except OSError:\n"
      "    pass\n"
      "print('still here')\n");
  EXPECT_EQ(::kill(sleeper, 0), 0);  // the host process lives
  ::kill(sleeper, SIGKILL);
  ::waitpid(sleeper, nullptr, 0);
  EXPECT_TRUE(o.ok()) << o.err;
  EXPECT_NE(o.out.find("still here"), std::string::npos) << o.out;
}

TEST(Sandbox, NoBackgroundProcessSurvivesTheCall) {
  SKIP_WITHOUT_BWRAP();
  const std::string token = "rlvr-sandbox-background-" + std::to_string(::getpid());
  const Outcome o = python(
      "import subprocess, sys\n"
      "for _ in range(3):\n"
      "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)', '" + token +
      "'], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
      "print('started')\n");
  EXPECT_EQ(o.out, "started\n") << o.err;
  EXPECT_EQ(processes_with(token), std::vector<int>{});
  // The same at the timeout: a program that never ends leaves nothing either.
  const Outcome t = python(
      "import os, time\n"
      "if os.fork() == 0:\n"
      "    os.setsid()\n"
      "    os.execv('/usr/bin/python3', ['python3', '-c', 'import time; time.sleep(30)', '" +
      token + "'])\n"
      "time.sleep(30)\n");
  EXPECT_TRUE(t.timed_out);
  EXPECT_EQ(processes_with(token), std::vector<int>{});
}

TEST(Sandbox, SegfaultIsReportedAsASignal) {
  SKIP_WITHOUT_BWRAP();
  const Outcome o = python("import ctypes\nctypes.string_at(0)\n");
  EXPECT_EQ(o.signal, SIGSEGV);
  EXPECT_FALSE(o.ok());
  EXPECT_FALSE(o.timed_out);
  EXPECT_LT(o.wall_s, kWallBound);
}

TEST(Sandbox, NonUtf8OutputComesBackAsBytes) {
  SKIP_WITHOUT_BWRAP();
  const Outcome o = python(
      "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\x80ok\\x00')\n"
      "sys.stderr.buffer.write(b'\\xc3\\x28')\n");
  EXPECT_TRUE(o.ok());
  EXPECT_EQ(o.out, std::string("\xff\xfe\x80ok\0", 6));
  EXPECT_EQ(o.err, "\xc3\x28");
}

TEST(Sandbox, StdinExitCodeAndResultChannel) {
  SKIP_WITHOUT_BWRAP();
  for (Isolation iso : {Isolation::kBwrap, Isolation::kNone}) {
    Job job;
    job.files.push_back(File{"prog.py",
                             "import os, sys\n"
                             "print(sys.stdin.read().upper(), end='')\n"
                             "os.write(3, b'verdict')\n"
                             "sys.exit(3)\n",
                             false});
    job.steps.push_back(python_step());
    job.steps[0].stdin_data = "abc\n";
    job.steps[0].result_channel = true;
    const Outcome o = run(job, iso).at(0);
    EXPECT_EQ(o.exit_code, 3) << isolation_name(iso) << " " << o.err;
    EXPECT_EQ(o.signal, 0);
    EXPECT_EQ(o.out, "ABC\n");
    EXPECT_EQ(o.channel, "verdict");
    EXPECT_FALSE(o.ok());
  }
}

// A keep_files step (a compile) leaves files for the later steps; the others work in a fresh
// tmpfs with the job's files read-only; a required step that fails ends the job.
TEST(Sandbox, StepsShareTheJobDirectoryThroughKeepFiles) {
  SKIP_WITHOUT_BWRAP();
  Job job;
  job.files.push_back(File{"build.py", "open('built.txt', 'w').write('binary')\n", false});
  job.files.push_back(File{"use.py",
                           "import sys\n"
                           "print(open('built.txt').read(), sys.stdin.read())\n"
                           "open('scratch.txt', 'w').write('x')\n"
                           "open('built.txt', 'w')\n",
                           false});
  job.steps.push_back(python_step("build.py"));
  job.steps[0].keep_files = true;
  for (const char* in : {"one", "two"}) {
    job.steps.push_back(python_step("use.py"));
    job.steps.back().stdin_data = in;
    job.steps.back().required = false;
  }
  const std::vector<Outcome> o = run(job, Isolation::kBwrap);
  ASSERT_EQ(o.size(), 3u);
  EXPECT_TRUE(o[0].ok()) << o[0].err;
  EXPECT_EQ(o[1].out, "binary one\n");
  EXPECT_EQ(o[2].out, "binary two\n");
  EXPECT_NE(o[1].err.find("Read-only file system"), std::string::npos) << o[1].err;
  job.steps[0].argv = {"python3", "-c", "raise SystemExit(1)"};  // a failed compile
  EXPECT_EQ(run(job, Isolation::kBwrap).size(), 1u);
}

// A step with stop_on_timeout ends the job when it times out: a looping program given five
// stdin cases costs one timeout, not five. Without it every step runs.
TEST(Sandbox, StopOnTimeoutEndsTheJob) {
  SKIP_WITHOUT_BWRAP();
  for (bool stop : {true, false}) {
    Job job;
    job.files.push_back(File{"prog.py", "import sys\nif sys.stdin.read() == 'loop':\n    while True: pass\n", false});
    for (const char* in : {"ok", "loop", "ok", "loop", "ok"}) {
      Step s = python_step();
      s.limits.timeout_s = 1;
      s.required = false;
      s.stop_on_timeout = stop;
      s.stdin_data = in;
      job.steps.push_back(s);
    }
    const std::vector<Outcome> o = run(job, Isolation::kBwrap);
    ASSERT_EQ(o.size(), stop ? 2u : 5u);
    EXPECT_TRUE(o[0].ok()) << o[0].err;
    EXPECT_TRUE(o[1].timed_out);
    if (!stop) EXPECT_TRUE(o[2].ok() && o[3].timed_out && o[4].ok());
  }
}

TEST(Sandbox, PoolResultsAreInInputOrderWhateverTheWorkerCount) {
  SKIP_WITHOUT_BWRAP();
  std::vector<Job> jobs(6);
  for (size_t i = 0; i < jobs.size(); ++i) {
    jobs[i].files.push_back(File{"prog.py",
                                 "import time\ntime.sleep(" + std::to_string(0.05 * (6 - i)) +
                                     ")\nprint(" + std::to_string(i) + ")\n",
                                 false});
    jobs[i].steps.push_back(python_step());
  }
  const auto one = Pool(1, Isolation::kBwrap).run_all(jobs);
  const auto three = Pool(3, Isolation::kBwrap).run_all(jobs);
  ASSERT_EQ(one.size(), jobs.size());
  ASSERT_EQ(three.size(), jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_EQ(one[i].at(0).out, std::to_string(i) + "\n") << one[i].at(0).error;
    EXPECT_EQ(three[i].at(0).out, one[i].at(0).out);
  }
  EXPECT_GE(Pool().workers(), 1);
}

TEST(Sandbox, NoIsolationRunsWithTheSameLimits) {
  const Outcome loop = python("while True:\n    pass\n", Isolation::kNone);
  EXPECT_TRUE(loop.timed_out);
  EXPECT_LT(loop.wall_s, kWallBound);
  const Outcome big = python("x = bytearray(8 * 1024 ** 3)\n", Isolation::kNone);
  EXPECT_TRUE(big.memory_killed) << big.err;
  const Outcome echo = python("print(input())\n", Isolation::kNone, "hello\n");
  EXPECT_TRUE(echo.ok()) << echo.err;
  EXPECT_EQ(echo.out, "hello\n");
}

TEST(Sandbox, AProgramThatCannotRunExits127AndAFailedSandboxIsASandboxError) {
  SKIP_WITHOUT_BWRAP();
  Job job;
  job.steps.push_back(Step{{"no-such-program-rlvr"}, "", Limits{}, false, true, false});
  for (Isolation iso : {Isolation::kBwrap, Isolation::kNone}) {
    const Outcome o = run(job, iso).at(0);
    EXPECT_EQ(o.exit_code, 127) << isolation_name(iso);
    EXPECT_FALSE(o.sandbox_error) << o.error;
    EXPECT_NE(o.err.find("no-such-program-rlvr"), std::string::npos) << o.err;
  }
  job.steps[0].argv = {"true"};
  job.steps[0].limits.memory_mb = 2;  // too little for bwrap itself
  const Outcome o = run(job, Isolation::kBwrap).at(0);
  EXPECT_TRUE(o.sandbox_error);
  EXPECT_NE(o.error.find("bwrap"), std::string::npos) << o.error;
}

TEST(Sandbox, BenchCommandReportsBothRatesAndTheOverhead) {
  SKIP_WITHOUT_BWRAP();
  const test::RunResult r =
      test::run_cmd(test::rlvr_bin() + " bench sandbox --runs 4 --rounds 1 --workers 2");
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string last = r.out.substr(r.out.rfind('{'));
  const nlohmann::json j = nlohmann::json::parse(last);
  EXPECT_GT(j.at("bwrap_runs_per_s").get<double>(), 0);
  EXPECT_GT(j.at("none_runs_per_s").get<double>(), 0);
  EXPECT_GT(j.at("overhead").get<double>(), 0);
  EXPECT_EQ(j.at("workers"), 2);
}

TEST(Sandbox, BadJobsAreRefusedWithOneLine) {
  Job job;
  EXPECT_THROW(run(job, Isolation::kNone), Error);  // no step
  job.steps.push_back(python_step());
  job.files.push_back(File{"../escape.py", "", false});
  EXPECT_THROW(run(job, Isolation::kNone), Error);
  job.files[0].name = "ok.py";
  job.ro_binds.push_back("relative/path");
  EXPECT_THROW(run(job, Isolation::kNone), Error);
  EXPECT_THROW(isolation_from_name("docker"), Error);
  EXPECT_EQ(isolation_from_name("none"), Isolation::kNone);
  EXPECT_THROW(Pool(-1), Error);
}

}  // namespace
}  // namespace rlvr::sandbox
