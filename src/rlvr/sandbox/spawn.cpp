// execute(): vfork + execve of one prepared command, then a poll() loop over its pipes and a
// pidfd until it exits or the deadline kills its process group (spawn.h).
#include "rlvr/sandbox/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "rlvr/core/clock.h"

namespace rlvr::sandbox {

namespace {

// After the program exits, how long its pipes may stay open (held by a process that left its
// group: only possible without namespaces) before they are abandoned.
constexpr double kDrainGraceS = 0.5;
// How long the sandbox's pid 1 may take to end after bwrap has (killing what is left in it).
constexpr int kInitExitMs = 5000;

// Everything the child does after vfork, prepared before it: the child only makes system calls.
struct ChildPlan {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* cwd;
  rlimit cpu, as, fsize, nofile, core;
  bool drop;
  // The child's ends; chan and bwrap -1 when unused. `failure` reports why the child could not
  // exec (child_fail).
  int in, out, err, chan, bwrap, failure;
  int bwrap_at;  // where bwrap's status descriptor goes
  pid_t parent;
};

// The child's report of a failure: {at_exec, errno}. A failed exec is the program's failure
// (exit status 127, as a shell reports it); anything before it is the sandbox's.
[[noreturn]] void child_fail(int failure_fd, int at_exec = 0) {
  const int report[2] = {at_exec, errno};
  (void)!::write(failure_fd, report, sizeof report);
  ::_exit(127);
}

void child_set_limits(const ChildPlan& p) {
  ::setrlimit(RLIMIT_CPU, &p.cpu);
  ::setrlimit(RLIMIT_AS, &p.as);
  ::setrlimit(RLIMIT_FSIZE, &p.fsize);
  ::setrlimit(RLIMIT_NOFILE, &p.nofile);
  ::setrlimit(RLIMIT_CORE, &p.core);
}

// Runs in the vforked child: signals to their defaults, its own process group, the pipes on
// 0-4, every other descriptor closed, limits, privileges dropped, then exec.
[[noreturn]] void child_main(const ChildPlan& p) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) ::sigaction(s, &dfl, nullptr);  // fails harmlessly for some
  ::setpgid(0, 0);
  if (::dup2(p.in, 0) < 0 || ::dup2(p.out, 1) < 0 || ::dup2(p.err, 2) < 0) child_fail(p.failure);
  if (p.chan >= 0 && ::dup2(p.chan, 3) < 0) child_fail(p.failure);
  if (p.bwrap >= 0 && ::dup2(p.bwrap, p.bwrap_at) < 0) child_fail(p.failure);
  const int failure = p.bwrap >= 0 ? p.bwrap_at + 1 : p.chan >= 0 ? 4 : 3;
  if (::dup3(p.failure, failure, O_CLOEXEC) != failure) child_fail(p.failure);  // all are >= 10
  ::syscall(SYS_close_range, failure + 1, ~0u, 0);
  if (::chdir(p.cwd) != 0) child_fail(failure);
  child_set_limits(p);
  if (p.drop) {  // raw system calls: glibc's wrappers would signal the parent's other threads
    if (::syscall(SYS_setgroups, 0, nullptr) != 0 ||
        ::syscall(SYS_setresgid, kNobody, kNobody, kNobody) != 0 ||
        ::syscall(SYS_setresuid, kNobody, kNobody, kNobody) != 0)
      child_fail(failure);
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // after the uid change, which clears it
  if (::getppid() != p.parent) ::_exit(127);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(p.path, p.argv, p.envp);
  child_fail(failure, 1);
}

rlimit limit_of(int64_t v) { return rlimit{rlim_t(v), rlim_t(v)}; }

// A descriptor at 10 or above with close-on-exec: the child's dup2 onto 0-5 cannot overwrite a
// descriptor it still has to move.
int high_fd(int fd) {
  if (fd >= 10) return fd;
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  ::close(fd);
  return moved;
}

// [0] is the parent's end, [1] the child's. stdin is a socket pair, so that the parent can
// write with MSG_NOSIGNAL (no SIGPIPE when the program has gone).
struct Fds {
  int in[2] = {-1, -1};
  int out[2] = {-1, -1}, err[2] = {-1, -1}, chan[2] = {-1, -1}, bwrap[2] = {-1, -1};
  int failure[2] = {-1, -1};
  ~Fds() {
    for (int* p : {in, out, err, chan, bwrap, failure})
      for (int i = 0; i < 2; ++i)
        if (p[i] >= 0) ::close(p[i]);
  }
  void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

bool open_fds(Fds& f, const Command& cmd) {
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f.in) != 0) return false;
  for (int* p : {f.out, f.err, f.failure}) {
    if (::pipe2(p, O_CLOEXEC) != 0) return false;
  }
  if (cmd.result_channel && ::pipe2(f.chan, O_CLOEXEC) != 0) return false;
  if (cmd.bwrap_status && ::pipe2(f.bwrap, O_CLOEXEC) != 0) return false;
  for (int* p : {f.in, f.out, f.err, f.chan, f.bwrap, f.failure})
    for (int i = 0; i < 2; ++i)
      if (p[i] >= 0 && (p[i] = high_fd(p[i])) < 0) return false;
  return true;
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

ChildPlan make_plan(const Command& cmd, const Fds& f, char* const* argv, char* const* envp) {
  const Limits& l = cmd.limits;
  const double cpu = l.cpu_s > 0 ? l.cpu_s : std::ceil(l.timeout_s) + 1;
  ChildPlan p{};
  p.path = cmd.path.c_str();
  p.argv = argv;
  p.envp = envp;
  p.cwd = cmd.cwd.c_str();
  p.cpu = rlimit{rlim_t(std::ceil(cpu)), rlim_t(std::ceil(cpu)) + 1};  // SIGXCPU, then SIGKILL
  p.as = limit_of(l.memory_mb << 20);
  p.fsize = limit_of(l.file_size_mb << 20);
  p.nofile = limit_of(l.open_files);
  p.core = limit_of(0);
  p.drop = drops_privileges();
  p.in = f.in[1];
  p.out = f.out[1];
  p.err = f.err[1];
  p.chan = f.chan[1];
  p.bwrap = f.bwrap[1];
  p.bwrap_at = cmd.status_fd();
  p.failure = f.failure[1];
  p.parent = ::getpid();
  return p;
}

// vfork + exec with every signal blocked around it (no handler of this process runs in the
// child). Returns the pid, or -1 with the reason in `error` (and `exec_failed` when the exec
// itself failed).
pid_t start(const Command& cmd, Fds& f, std::string* error, bool* exec_failed) {
  std::vector<char*> argv = c_strings(cmd.argv), envp = c_strings(cmd.env);
  const ChildPlan plan = make_plan(cmd, f, argv.data(), envp.data());
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = ::vfork();
  if (pid == 0) child_main(plan);
  const int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  for (int* p : {f.in, f.out, f.err, f.chan, f.bwrap, f.failure}) f.close_fd(p[1]);
  if (pid < 0) {
    *error = std::string("cannot fork: ") + std::strerror(fork_errno);
    return -1;
  }
  int report[2];
  if (::read(f.failure[0], report, sizeof report) == sizeof report) {
    ::waitpid(pid, nullptr, 0);
    *error = "cannot start " + cmd.path + ": " + std::strerror(report[1]);
    *exec_failed = report[0] != 0;
    return -1;
  }
  return pid;
}

// One output stream: kept up to a cap, the rest read and dropped.
struct Sink {
  int* fd;
  std::string* text;
  size_t cap;
  bool truncated = false;
  // Reads what is there; false at end of file (the descriptor is then closed).
  bool read_some() {
    char buf[65536];
    const ssize_t n = ::read(*fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (n <= 0) {
      ::close(*fd);
      *fd = -1;
      return false;
    }
    const size_t keep = std::min(size_t(n), cap - std::min(cap, text->size()));
    text->append(buf, keep);
    truncated = truncated || keep < size_t(n);
    return true;
  }
};

}  // namespace

bool drops_privileges() { return ::geteuid() == 0; }

namespace {

// The poll loop: feeds stdin, drains the sinks, kills the group at the deadline, reaps the
// child when its pidfd is readable, then drains until end of file or the grace time.
struct Supervisor {
  Supervisor(pid_t child, int child_fd, int* in_fd, const std::string& in_text, double timeout)
      : pid(child), pidfd(child_fd), stdin_fd(in_fd), input(in_text), timeout_s(timeout) {}
  pid_t pid;
  int pidfd;
  int* stdin_fd;
  const std::string& input;
  double timeout_s;
  std::vector<Sink> sinks;
  size_t written = 0;
  bool exited = false;
  Exit result;

  int poll_ms(const Stopwatch& clock, double exited_at) const {
    const double end = exited ? exited_at + kDrainGraceS : timeout_s;
    const double left = result.timed_out && !exited ? 0.05 : end - clock.seconds();
    return std::max(0, int(std::ceil(left * 1000)));
  }
  void feed() {
    const ssize_t n = ::send(*stdin_fd, input.data() + written,
                             std::min<size_t>(input.size() - written, 65536),
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) written += size_t(n);
    if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
      ::close(*stdin_fd);
      *stdin_fd = -1;
    }
  }
  void reap() {
    ::waitpid(pid, &result.status, 0);
    ::kill(-pid, SIGKILL);  // whatever is left in its group
    exited = true;
  }
  // bwrap's status text names the sandbox's pid 1 ({"child-pid": N, ...}) while bwrap, its
  // parent, lives, so N is not yet reused. A pidfd on it tells when the sandbox has ended.
  std::string bwrap_status;
  int init_fd = -1;
  void watch_init() {
    const size_t at = bwrap_status.find("\"child-pid\":");
    if (init_fd >= 0 || at == std::string::npos) return;
    const int init = std::atoi(bwrap_status.c_str() + at + 12);
    result.bwrap_started = init > 0;
    if (init > 0) init_fd = int(::syscall(SYS_pidfd_open, init, 0));  // -1: already gone
  }
  void wait_for_init() {
    if (init_fd < 0) return;
    pollfd p{init_fd, POLLIN, 0};
    while (::poll(&p, 1, kInitExitMs) < 0 && errno == EINTR) {
    }
    ::close(init_fd);
  }
  Exit run();
};

Exit Supervisor::run() {
  Stopwatch clock;
  double exited_at = 0;
  if (input.empty()) feed();  // closes stdin at once
  for (;;) {
    std::vector<pollfd> fds;
    if (!exited) fds.push_back({pidfd, POLLIN, 0});
    if (*stdin_fd >= 0 && !exited) fds.push_back({*stdin_fd, POLLOUT, 0});
    for (Sink& s : sinks)
      if (*s.fd >= 0) fds.push_back({*s.fd, POLLIN, 0});
    if (exited && fds.empty()) break;
    const int wait_ms = poll_ms(clock, exited_at);
    if (exited && wait_ms == 0) break;
    if (!result.timed_out && !exited && clock.seconds() >= timeout_s) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      continue;
    }
    if (::poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) {
      ::kill(-pid, SIGKILL);
      if (!exited) reap();
      break;
    }
    for (const pollfd& p : fds) {
      if (!p.revents) continue;
      if (p.fd == pidfd) {
        reap();
        result.wall_s = exited_at = clock.seconds();
      } else if (p.fd == *stdin_fd) {
        feed();
      } else {
        for (Sink& s : sinks)
          if (*s.fd == p.fd) s.read_some();
        watch_init();
      }
    }
  }
  wait_for_init();
  for (const Sink& s : sinks) result.truncated = result.truncated || s.truncated;
  return std::move(result);
}

}  // namespace

Exit execute(const Command& cmd, const std::string& stdin_data) {
  Exit failed;
  Fds f;
  if (!open_fds(f, cmd)) {
    failed.error = std::string("cannot create pipes: ") + std::strerror(errno);
    return failed;
  }
  bool exec_failed = false;
  const pid_t pid = start(cmd, f, &failed.error, &exec_failed);
  if (exec_failed) {  // as a shell reports a program it cannot run
    failed.status = 127 << 8;
    failed.err = std::move(failed.error);
    failed.error.clear();
  }
  if (pid < 0) return failed;
  const int pidfd = int(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    failed.error = std::string("pidfd_open (Linux 5.3 or later): ") + std::strerror(errno);
    return failed;
  }
  const size_t cap = size_t(std::max<int64_t>(0, cmd.limits.output_bytes));
  Supervisor sup{pid, pidfd, &f.in[0], stdin_data, cmd.limits.timeout_s};
  sup.sinks.push_back(Sink{&f.out[0], &sup.result.out, cap});
  sup.sinks.push_back(Sink{&f.err[0], &sup.result.err, cap});
  if (f.chan[0] >= 0) sup.sinks.push_back(Sink{&f.chan[0], &sup.result.channel, cap});
  if (f.bwrap[0] >= 0) sup.sinks.push_back(Sink{&f.bwrap[0], &sup.bwrap_status, 4096});
  Exit e = sup.run();
  ::close(pidfd);
  return e;
}

}  // namespace rlvr::sandbox
