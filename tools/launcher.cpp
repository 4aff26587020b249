// The built-in launcher (launcher.h): argv and environment of the workers, starting them, forwarding
// interrupts and waiting for them.
#include "launcher.h"

#include "rlvr/core/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <utility>

#include "rlvr/core/error.h"

extern char** environ;

namespace rlvr::cli {

namespace {

constexpr const char* kOption = "--nproc-per-node";
using Clock = std::chrono::steady_clock;

}  // namespace

int parse_nproc(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(text.c_str(), &end, 10);
  RLVR_CHECK(!text.empty() && std::isdigit(static_cast<unsigned char>(text[0])) && *end == '\0' &&
                 errno == 0 && n >= 1 && n <= 1 << 20,
             kOption, " ", text, ": not a count of worker processes; give a whole number >= 1, e.g. ",
             kOption, " 2");
  return static_cast<int>(n);
}

std::vector<std::string> worker_argv(const std::vector<std::string>& argv) {
  const std::string with_value = std::string(kOption) + "=";
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--") {  // what follows is not an option
      out.insert(out.end(), argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
      break;
    }
    if (argv[i] == kOption) {
      ++i;  // and its value
      continue;
    }
    if (argv[i].rfind(with_value, 0) != 0) out.push_back(argv[i]);
  }
  return out;
}

std::vector<std::string> worker_env(const std::vector<std::string>& base, int rank, int world,
                                    const std::string& master_addr, const std::string& master_port) {
  const std::vector<std::pair<std::string, std::string>> set = {
      {"RANK", std::to_string(rank)},        {"WORLD_SIZE", std::to_string(world)},
      {"LOCAL_RANK", std::to_string(rank)},  {"LOCAL_WORLD_SIZE", std::to_string(world)},
      {"MASTER_ADDR", master_addr},          {"MASTER_PORT", master_port}};
  std::vector<std::string> out;
  for (const std::string& entry : base) {
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& kv : set) replaced = replaced || kv.first == name;
    if (!replaced) out.push_back(entry);
  }
  for (const auto& kv : set) out.push_back(kv.first + "=" + kv.second);
  return out;
}

int exit_code(int wait_status) {
  return WIFSIGNALED(wait_status) ? 128 + WTERMSIG(wait_status) : WEXITSTATUS(wait_status);
}

std::string exit_line(int rank, int wait_status) {
  const std::string who = "rlvr: rank " + std::to_string(rank);
  if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    return who + " was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  const int code = WEXITSTATUS(wait_status);
  return code == 0 ? "" : who + " exited with status " + std::to_string(code);
}

int launcher_status(const std::vector<int>& wait_statuses_in_exit_order) {
  for (int st : wait_statuses_in_exit_order)
    if (exit_code(st) != 0) return exit_code(st);
  return 0;
}

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// NAME=VALUE strings with the char* array execve() takes, built before fork() so that the child
// only makes async-signal-safe calls.
struct CStrings {
  std::vector<std::string> strings;
  std::vector<char*> ptrs;
  explicit CStrings(std::vector<std::string> s) : strings(std::move(s)) {
    for (std::string& x : strings) ptrs.push_back(x.data());
    ptrs.push_back(nullptr);
  }
};

// The workers and what the launcher has seen of them.
struct Pool {
  std::vector<pid_t> pid;  // by rank; 0 once reaped
  std::vector<int> ended;  // wait statuses in the order the workers ended
  int live = 0;
  bool failed = false;
  Clock::time_point last_end = Clock::now();
};

void signal_live(const Pool& p, int sig) {
  for (pid_t pid : p.pid)
    if (pid > 0) ::kill(pid, sig);
}

// Starts one worker: its own process group (a terminal's Ctrl-C reaches the launcher alone, which
// forwards it once), SIGTERM when the launcher dies, `mask` (the launcher's signal mask before it
// blocked SIGINT / SIGTERM to start the workers).
pid_t start_worker(const std::string& exe, const CStrings& argv, const CStrings& env,
                   const sigset_t& mask) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  RLVR_CHECK(pid >= 0, kOption, ": cannot start a worker process (fork: ", std::strerror(errno), ")");
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(128 + SIGTERM);  // the launcher is already gone
    ::pthread_sigmask(SIG_SETMASK, &mask, nullptr);
    ::execve(exe.c_str(), argv.ptrs.data(), env.ptrs.data());
    const char msg[] = "rlvr: cannot start a worker: exec of the rlvr binary failed\n";
    ssize_t ignored = ::write(2, msg, sizeof(msg) - 1);
    (void)ignored;
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // here too, so that it holds before the first forwarded signal
  return pid;
}

std::atomic<int> g_received[2];  // SIGINT, SIGTERM received by the launcher

void on_signal(int sig) { g_received[sig == SIGINT ? 0 : 1].fetch_add(1); }

// While alive: SIGINT and SIGTERM are counted, not acted on; forward() passes each one received on
// to the live workers once.
class Forwarder {
 public:
  Forwarder() {
    g_received[0] = g_received[1] = 0;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_[0]);
    ::sigaction(SIGTERM, &sa, &old_[1]);
  }
  ~Forwarder() {
    ::sigaction(SIGINT, &old_[0], nullptr);
    ::sigaction(SIGTERM, &old_[1], nullptr);
  }
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;
  // True once any signal was forwarded.
  bool forward(const Pool& p) {
    const int sigs[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; ++i)
      for (; sent_[i] < g_received[i].load(); ++sent_[i]) signal_live(p, sigs[i]);
    return sent_[0] + sent_[1] > 0;
  }

 private:
  struct sigaction old_[2];
  int sent_[2] = {0, 0};
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Reaps every worker that has ended, printing exit_line for each that failed.
void reap(Pool& p) {
  for (size_t r = 0; r < p.pid.size(); ++r) {
    int st = 0;
    if (p.pid[r] == 0 || ::waitpid(p.pid[r], &st, WNOHANG) != p.pid[r]) continue;
    p.pid[r] = 0;
    --p.live;
    p.ended.push_back(st);
    p.last_end = Clock::now();
    const std::string line = exit_line(static_cast<int>(r), st);
    if (line.empty()) continue;
    p.failed = true;
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  }
}

// Waits for every worker, forwarding interrupts and ending stragglers (LaunchOptions).
int supervise(Pool& p, const LaunchOptions& o, Forwarder& fwd) {
  bool interrupted = false, termed = false, killed = false;
  Clock::time_point term_at;
  while (p.live > 0) {
    reap(p);
    interrupted = fwd.forward(p) || interrupted;
    if (p.live > 0 && p.failed && !interrupted && !termed && seconds_since(p.last_end) > o.straggler_s) {
      std::fprintf(stderr, "rlvr: %d rank(s) still running %.0f s after a failure; stopping them\n",
                   p.live, o.straggler_s);
      signal_live(p, SIGTERM);
      termed = true;
      term_at = Clock::now();
    }
    if (p.live > 0 && termed && !killed && seconds_since(term_at) > o.kill_after_s) {
      signal_live(p, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return launcher_status(p.ended);
}

}  // namespace

int run_workers(const LaunchOptions& o) {
  const std::string addr = env_or("MASTER_ADDR", "127.0.0.1");
  const std::string port = env_or("MASTER_PORT", "");
  const std::string master_port = port.empty() ? std::to_string(free_tcp_port()) : port;
  std::vector<std::string> base;
  for (char** e = environ; *e != nullptr; ++e) base.emplace_back(*e);
  const CStrings argv(o.argv);
  Forwarder fwd;
  // SIGINT / SIGTERM wait while the workers start, so each one started is in the pool it reaches.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &block, &old);
  Pool p;
  for (int rank = 0; rank < o.nproc; ++rank) {
    const CStrings env(worker_env(base, rank, o.nproc, addr, master_port));
    p.pid.push_back(start_worker(o.exe, argv, env, old));
    ++p.live;
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return supervise(p, o, fwd);
}

namespace {

// Runs the parsed command as workers when --nproc-per-node asks for more than one.
void launch_if_asked(const std::string& text, const std::vector<std::string>& args) {
  int n = 1;
  try {
    n = parse_nproc(text);
  } catch (const Error& e) {  // a usage error: rlvr's usage line and exit status 2
    throw CLI::ValidationError(e.what());
  }
  RLVR_CHECK(std::getenv("WORLD_SIZE") == nullptr && std::getenv("RANK") == nullptr, kOption,
             ": RANK / WORLD_SIZE are set, so this process is already a worker of another launcher "
             "(torchrun, ...); drop ", kOption, " or start rlvr without the other launcher");
  if (n == 1) return;  // the command runs here, in this process
  LaunchOptions o;
  o.argv = worker_argv(args);
  o.nproc = n;
  throw CLI::RuntimeError(run_workers(o));
}

}  // namespace

void add_launcher_option(CLI::App& app, int argc, const char* const* argv) {
  const std::vector<std::string> args(argv, argv + argc);
  for (const char* name : {"train", "sft", "eval", "demo"}) {
    for (CLI::App* cmd : app.get_subcommands([name](CLI::App* s) { return s->get_name() == name; })) {
      auto text = std::make_shared<std::string>();
      CLI::Option* opt = cmd->add_option(
          kOption, *text,
          "run the command as N worker processes on this machine (ranks 0..N-1, torchrun's "
          "environment), forward Ctrl-C / SIGTERM to them and wait for them all");
      opt->type_name("N");
      cmd->parse_complete_callback([opt, text, args] {
        if (opt->count() > 0) launch_if_asked(*text, args);
      });
    }
  }
}

}  // namespace rlvr::cli
