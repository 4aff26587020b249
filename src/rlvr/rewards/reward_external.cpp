// ExternalReward: fork/exec with a socket for stdin and a pipe for stdout, poll() for timeouts,
// process-group kill and waitpid on timeout, on death and in the destructor (reward_external.h).
#include "rlvr/rewards/reward_external.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <thread>

#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/rewards/reward_builtin.h"

namespace rlvr {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t kMaxLine = 16u << 20;  // a reply longer than this is garbage


std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g s", s);
  return buf;
}

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

bool parse_reward_reply(const std::string& line, double* v, std::string* why) {
  const std::string quoted = line.substr(0, std::min<size_t>(line.size(), 120));
  *why = "reply is not {\"reward\": number|null}: " + quoted;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception&) {
    if (line.find("NaN") != std::string::npos || line.find("Infinity") != std::string::npos)
      *why = "reply has NaN or Infinity, which JSON does not allow; reply {\"reward\": null} for not "
             "applicable: " + quoted;
    return false;
  }
  if (j.is_object()) {
    if (!j.contains("reward")) {
      *why = "reply has no \"reward\" (reply {\"reward\": null} for not applicable): " + quoted;
      return false;
    }
    j = j["reward"];
  }
  if (j.is_null()) {
    *v = kNaN;
    return true;
  }
  if (!j.is_number()) return false;
  *v = j.get<double>();
  if (!std::isfinite(*v)) *why = "reply is not a finite number: " + quoted;
  return std::isfinite(*v);
}

ExternalReward::ExternalReward(std::string name, ExternalRewardOptions opts)
    : name_(std::move(name)), opts_(std::move(opts)) {
  RLVR_CHECK(!opts_.command.empty(), "reward '", name_, "': option \"command\" is empty");
  RLVR_CHECK(opts_.timeout_s > 0, "reward '", name_, "': timeout_s must be > 0");
  std::string why;
  RLVR_CHECK(start(&why), "reward '", name_, "': cannot start '", opts_.command[0], "': ", why,
             "; check the command (an argv array, or one shell string)");
}

ExternalReward::~ExternalReward() { stop(true); }

bool ExternalReward::start(std::string* why) {
  int in_sp[2], out_p[2], err_p[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_sp) != 0) {
    *why = std::strerror(errno);
    return false;
  }
  if (pipe2(out_p, O_CLOEXEC) != 0 || pipe2(err_p, O_CLOEXEC) != 0) {
    *why = std::strerror(errno);
    close(in_sp[0]);
    close(in_sp[1]);
    return false;
  }
  std::vector<char*> argv;  // built before fork: the child only calls async-signal-safe code
  for (auto& a : opts_.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    *why = std::strerror(errno);
    for (int fd : {in_sp[0], in_sp[1], out_p[0], out_p[1], err_p[0], err_p[1]}) close(fd);
    return false;
  }
  if (pid == 0) {  // child
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, nullptr);
    if (dup2(in_sp[1], 0) < 0 || dup2(out_p[1], 1) < 0) _exit(127);
    execvp(argv[0], argv.data());
    int e = errno;
    ssize_t w = write(err_p[1], &e, sizeof(e));
    (void)w;
    _exit(127);
  }
  setpgid(pid, pid);  // also here, so a kill right after fork reaches the group
  close(in_sp[1]);
  close(out_p[1]);
  close(err_p[1]);
  int e = 0;
  ssize_t got;
  do {
    got = read(err_p[0], &e, sizeof(e));  // 0 bytes: exec succeeded (CLOEXEC closed the pipe)
  } while (got < 0 && errno == EINTR);
  close(err_p[0]);
  pid_ = pid;
  to_child_ = in_sp[0];
  from_child_ = out_p[0];
  set_nonblocking(to_child_);
  set_nonblocking(from_child_);
  rbuf_.clear();
  fresh_ = true;
  if (got == static_cast<ssize_t>(sizeof(e))) {
    *why = std::strerror(e);
    stop(false);
    return false;
  }
  return true;
}

void ExternalReward::stop(bool graceful) {
  if (to_child_ >= 0) close(to_child_);  // EOF on the child's stdin: a polite request to exit
  if (from_child_ >= 0) close(from_child_);
  to_child_ = from_child_ = -1;
  rbuf_.clear();
  if (pid_ <= 0) return;
  int status = 0;
  bool reaped = false;
  if (graceful) {  // up to 200 ms to exit on its own
    for (int i = 0; i < 20 && !reaped; ++i) {
      reaped = waitpid(pid_, &status, WNOHANG) == pid_;
      if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (!reaped) {
    kill(-pid_, SIGKILL);  // the whole process group: a shell wrapper's children too
    kill(pid_, SIGKILL);
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
}

size_t ExternalReward::pump(const std::vector<std::string>& lines, size_t first,
                            std::vector<double>* out, std::string* broken) {
  broken->clear();
  size_t next_reply = first, next_line = first, line_off = 0;
  bool can_write = true;
  // The wait for the next reply: `budget` seconds on `since_reply`, restarted at each reply.
  double budget = fresh_ ? std::max(opts_.timeout_s, opts_.startup_timeout_s) : opts_.timeout_s;
  Stopwatch since_reply;
  while (next_reply < lines.size()) {
    // Consume every complete reply line already buffered.
    size_t nl;
    while (next_reply < lines.size() && (nl = rbuf_.find('\n')) != std::string::npos) {
      double v = 0;
      std::string why;
      if (parse_reward_reply(rbuf_.substr(0, nl), &v, &why)) {
        (*out)[next_reply] = v;
      } else {
        (*out)[next_reply] = 0.0;
        count_errors(1, why);
      }
      rbuf_.erase(0, nl + 1);
      ++next_reply;
      fresh_ = false;
      budget = opts_.timeout_s;
      since_reply.restart();
    }
    if (next_reply == lines.size()) break;
    if (rbuf_.size() > kMaxLine) {
      *broken = "a reply line longer than 16 MiB";
      return next_reply;
    }
    pollfd fds[2];
    int nfds = 0;
    fds[nfds++] = {from_child_, POLLIN, 0};
    bool want_write = can_write && next_line < lines.size();
    if (want_write) fds[nfds++] = {to_child_, POLLOUT, 0};
    const double left_ms = 1000.0 * (budget - since_reply.seconds());
    if (left_ms <= 0) {
      *broken = "no reply within " + seconds_text(budget);
      return next_reply;
    }
    int rc = poll(fds, nfds, static_cast<int>(left_ms) + 1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) {
      *broken = std::string("poll failed: ") + std::strerror(errno);
      return next_reply;
    }
    if (want_write && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const std::string& l = lines[next_line];
      ssize_t w = send(to_child_, l.data() + line_off, l.size() - line_off, MSG_NOSIGNAL);
      if (w > 0) {
        line_off += static_cast<size_t>(w);
        if (line_off == l.size()) {
          ++next_line;
          line_off = 0;
        }
      } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        can_write = false;  // the child closed its stdin or died: read what it said, then stop
      }
    }
    if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
      char buf[65536];
      ssize_t r = read(from_child_, buf, sizeof(buf));
      if (r > 0) {
        rbuf_.append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        *broken = "the process exited or closed its stdout";
        return next_reply;
      }
    }
  }
  return next_reply;
}

std::vector<double> ExternalReward::score(const std::vector<RewardSample>& batch) {
  std::vector<double> out(batch.size(), 0.0);
  std::vector<std::string> lines;
  lines.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    nlohmann::json req = {{"prompt", batch[i].prompt},
                          {"completion", batch[i].completion},
                          {"answer", batch[i].answer},
                          {"index", i},
                          {"fields", batch[i].fields}};
    // Invalid UTF-8 from a model is replaced, never an exception.
    lines.push_back(req.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  }
  // Drop anything a previous batch left behind (extra lines from a confused script).
  if (from_child_ >= 0) {
    char buf[4096];
    while (read(from_child_, buf, sizeof(buf)) > 0) {
    }
  }
  rbuf_.clear();
  if (pid_ > 0) {  // exited since the last batch (e.g. a script that answers once): restart quietly
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      stop(false);
    }
  }
  int64_t failures = 0;
  size_t done = 0;
  while (done < batch.size()) {
    if (failures >= opts_.max_failures) {  // give up on this batch: the rest score 0
      count_errors(static_cast<int64_t>(batch.size() - done), "gave up on a batch after max_failures");
      break;
    }
    if (pid_ < 0) {
      std::string why;
      stop(false);  // close the old pipes
      ++restarts_;
      if (!start(&why)) {
        ++failures;
        count_errors(1, "cannot restart the process: " + why);
        ++done;  // that request scores 0
        continue;
      }
    }
    std::string broken;
    done = pump(lines, done, &out, &broken);
    if (!broken.empty()) {  // died, timed out or flooded: the pending request scores 0, restart lazily
      ++failures;
      if (done < batch.size()) {
        out[done] = 0.0;
        count_errors(1, broken);
        ++done;
      }
      stop(false);
    }
  }
  warn_if_due();
  return out;
}

void ExternalReward::count_errors(int64_t n, const std::string& what) {
  if (errors_ == 0) first_error_ = what;
  errors_ += n;
}

void ExternalReward::warn_if_due() {
  if (errors_ == warned_errors_) return;
  if (warned_errors_ > 0 && since_warning_.seconds() < opts_.warn_interval_s) return;
  std::fprintf(stderr, "warning: reward '%s': %lld error%s so far (each scored 0); first: %s\n", name_.c_str(),
               static_cast<long long>(errors_), errors_ == 1 ? "" : "s", first_error_.c_str());
  std::fflush(stderr);
  warned_errors_ = errors_;
  since_warning_.restart();
}

namespace reward_detail {

std::unique_ptr<RewardFunction> make_external(const std::string& name, const nlohmann::json& o) {
  check_option_keys(name, o, {"command", "timeout_s", "startup_timeout_s", "max_failures"});
  RLVR_CHECK(o.is_object() && o.contains("command"), "reward '", name,
             "': an external reward needs \"command\": [\"python3\", \"my_reward.py\"]");
  ExternalRewardOptions eo;
  const auto& c = o["command"];
  if (c.is_string()) {
    eo.command = {"/bin/sh", "-c", c.get<std::string>()};
  } else {
    RLVR_CHECK(c.is_array() && !c.empty(), "reward '", name,
               "': \"command\" must be a non-empty array of strings or one shell string");
    for (const auto& a : c) {
      RLVR_CHECK(a.is_string(), "reward '", name, "': \"command\" items must be strings");
      eo.command.push_back(a.get<std::string>());
    }
  }
  if (o.contains("timeout_s")) {
    RLVR_CHECK(o["timeout_s"].is_number(), "reward '", name, "': timeout_s must be a number");
    eo.timeout_s = o["timeout_s"].get<double>();
  }
  if (o.contains("startup_timeout_s")) {
    RLVR_CHECK(o["startup_timeout_s"].is_number(), "reward '", name,
               "': startup_timeout_s must be a number");
    eo.startup_timeout_s = o["startup_timeout_s"].get<double>();
  }
  if (o.contains("max_failures")) {
    RLVR_CHECK(o["max_failures"].is_number_integer() && o["max_failures"].get<int64_t>() >= 1,
               "reward '", name, "': max_failures must be an integer >= 1");
    eo.max_failures = o["max_failures"].get<int64_t>();
  }
  return std::make_unique<ExternalReward>(name, std::move(eo));
}

}  // namespace reward_detail

}  // namespace rlvr
