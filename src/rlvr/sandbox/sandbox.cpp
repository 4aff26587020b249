// Jobs: the job directory, one command line per step (bwrap's or the bare program's), the step
// outcomes, the availability probe and the pool (sandbox.h). Processes are spawn.cpp's.
#include "rlvr/sandbox/sandbox.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/sandbox/spawn.h"

namespace rlvr::sandbox {

namespace {

constexpr const char* kPath = "/usr/local/bin:/usr/bin:/bin";  // inside, and for kNone lookups
constexpr const char* kWork = "/work";

std::string find_program(const std::string& name, const std::string& dirs) {
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t colon = std::min(dirs.find(':', start), dirs.size());
    const std::string path = join_path(dirs.substr(start, colon - start), name);
    if (::access(path.c_str(), X_OK) == 0) return path;
    start = colon + 1;
  }
  return "";
}

// The read-only system view: /usr, the /bin /sbin /lib* entries (links into /usr on merged-usr
// systems, bound directories otherwise) and the dynamic loader's files.
std::vector<std::string> system_binds() {
  std::vector<std::string> args = {"--ro-bind", "/usr", "/usr"};
  for (const char* top : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    struct stat st;
    if (::lstat(top, &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      const ssize_t n = ::readlink(top, target, sizeof target - 1);
      if (n > 0) args.insert(args.end(), {"--symlink", std::string(target, size_t(n)), top});
    } else if (S_ISDIR(st.st_mode)) {
      args.insert(args.end(), {"--ro-bind", top, top});
    }
  }
  for (const char* etc :
       {"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives"})
    args.insert(args.end(), {"--ro-bind-try", etc, etc});
  return args;
}

// What the host offers, looked up once.
struct Host {
  std::string bwrap = find_program("bwrap", kPath);
  std::string prlimit = find_program("prlimit", kPath);
  std::vector<std::string> binds = system_binds();
  std::string temp_dir = [] {
    const char* t = std::getenv("TMPDIR");
    return t && *t && is_directory(t) ? std::string(t) : std::string("/tmp");
  }();
};

const Host& host() {
  static const Host h;
  return h;
}

bool plain_name(const std::string& n) {
  if (n.empty() || n == "." || n == "..") return false;
  for (char c : n)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return false;
  return true;
}

void check_limits(const Limits& l) {
  RLVR_CHECK(l.timeout_s > 0 && l.cpu_s >= 0 && l.memory_mb > 0 && l.file_size_mb >= 0 &&
                 l.open_files > 0 && l.processes > 0 && l.output_bytes >= 0 && l.work_mb > 0,
             "sandbox: limits must be positive (timeout_s, memory_mb, open_files, processes, "
             "work_mb) or >= 0 (cpu_s, file_size_mb, output_bytes)");
}

void check_job(const Job& job) {
  RLVR_CHECK(!job.steps.empty(), "sandbox: a job needs at least one step");
  for (const File& f : job.files)
    RLVR_CHECK(plain_name(f.name), "sandbox: file name '", f.name,
               "' must be a plain name (letters, digits, '.', '_', '-')");
  for (const Step& s : job.steps) {
    RLVR_CHECK(!s.argv.empty() && !s.argv[0].empty(), "sandbox: a step has an empty argv");
    check_limits(s.limits);
  }
  for (const std::string& p : job.ro_binds)
    RLVR_CHECK(!p.empty() && p[0] == '/' && file_exists(p), "sandbox: ro_binds entry '", p,
               "' must be an existing absolute path");
  for (const std::string& e : job.env)
    RLVR_CHECK(e.find('=') != std::string::npos && e[0] != '=', "sandbox: env entry '", e,
               "' must be NAME=value");
}

void write_file(const std::string& dir, const File& f) {
  const std::string path = join_path(dir, f.name);
  const mode_t mode = f.executable ? 0755 : 0644;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  RLVR_CHECK(fd >= 0, "sandbox: cannot create ", path, ": ", std::strerror(errno));
  size_t done = 0;
  while (done < f.content.size()) {
    const ssize_t n = ::write(fd, f.content.data() + done, f.content.size() - done);
    if (n <= 0 && errno != EINTR) break;
    done += size_t(std::max<ssize_t>(n, 0));
  }
  const bool ok = done == f.content.size() && ::fchmod(fd, mode) == 0;
  ::close(fd);
  RLVR_CHECK(ok, "sandbox: cannot write ", path, ": ", std::strerror(errno));
}

// A fresh private directory in the host's temp dir holding the job's files, owned by the uid the
// programs run as (a keep_files step writes into it).
std::string make_job_dir(const Job& job) {
  std::string templ = join_path(host().temp_dir, "rlvr-sandbox-XXXXXX");
  RLVR_CHECK(::mkdtemp(templ.data()) != nullptr, "sandbox: cannot create a directory in ",
             host().temp_dir, ": ", std::strerror(errno), " (set TMPDIR to a writable folder)");
  try {
    for (const File& f : job.files) write_file(templ, f);
    RLVR_CHECK(!drops_privileges() || ::chown(templ.c_str(), kNobody, kNobody) == 0,
               "sandbox: cannot hand ", templ, " to uid ", kNobody, ": ", std::strerror(errno));
  } catch (...) {
    remove_tree(templ);
    throw;
  }
  return templ;
}

std::vector<std::string> environment(const Job& job, const std::string& work) {
  std::vector<std::string> env = {std::string("PATH=") + kPath, "HOME=" + work, "TMPDIR=" + work,
                                  "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "PYTHONHASHSEED=0"};
  env.insert(env.end(), job.env.begin(), job.env.end());
  return env;
}

// bwrap's options for the working directory: the job directory itself, or a fresh tmpfs with
// the job directory's entries bound in read-only.
void add_work_dir(const Step& step, const std::string& dir, std::vector<std::string>& a) {
  if (step.keep_files) {
    a.insert(a.end(), {"--bind", dir, kWork});
    return;
  }
  a.insert(a.end(), {"--size", std::to_string(step.limits.work_mb << 20), "--tmpfs", kWork});
  for (const std::string& name : list_dir(dir))
    a.insert(a.end(), {"--ro-bind", join_path(dir, name), join_path(kWork, name)});
}

Command bwrap_command(const Job& job, const Step& step, const std::string& dir) {
  const Host& h = host();
  Command cmd{h.bwrap, {}, environment(job, kWork), "/", step.limits, step.result_channel, true};
  std::vector<std::string>& a = cmd.argv;
  a = {h.bwrap, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
       "--unshare-net", "--unshare-cgroup-try", "--die-with-parent", "--new-session",
       "--disable-userns", "--cap-drop", "ALL", "--hostname", "sandbox", "--json-status-fd",
       std::to_string(cmd.status_fd())};
  a.insert(a.end(), h.binds.begin(), h.binds.end());
  for (const std::string& p : job.ro_binds) a.insert(a.end(), {"--ro-bind", p, p});
  a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev"});
  add_work_dir(step, dir, a);
  // The process limit is set inside, where it counts this sandbox's user namespace only: set
  // before bwrap it would count every process of the uid on the host, shared by all workers.
  a.insert(a.end(), {"--symlink", kWork, "/tmp", "--chdir", kWork, "--remount-ro", "/dev",
                     "--remount-ro", "/", "--", h.prlimit,
                     "--nproc=" + std::to_string(step.limits.processes), "--"});
  a.insert(a.end(), step.argv.begin(), step.argv.end());
  return cmd;
}

Command direct_command(const Job& job, const Step& step, const std::string& dir) {
  const std::string& prog = step.argv[0];
  std::string path = prog.find('/') != std::string::npos ? prog : find_program(prog, kPath);
  if (path.empty()) path = prog;  // execve fails and says so
  return Command{path, step.argv, environment(job, dir), dir, step.limits, step.result_channel,
                 false};
}

bool mentions_memory(const std::string& err) {
  for (const char* s : {"MemoryError", "std::bad_alloc", "Cannot allocate memory"})
    if (err.find(s) != std::string::npos) return true;
  return false;
}

Outcome sandbox_failure(const std::string& why) {
  Outcome o;
  o.sandbox_error = true;
  o.error = why;
  return o;
}

Outcome to_outcome(Exit&& e, Isolation iso) {
  Outcome o;
  o.wall_s = e.wall_s;
  if (!e.error.empty()) return sandbox_failure(e.error);
  if (iso == Isolation::kBwrap && !e.bwrap_started && !e.timed_out)  // bwrap's own error
    return sandbox_failure("bwrap could not start the sandbox: " + e.err.substr(0, e.err.find('\n')));
  if (WIFEXITED(e.status)) o.exit_code = WEXITSTATUS(e.status);
  if (WIFSIGNALED(e.status)) o.signal = WTERMSIG(e.status);
  if (iso == Isolation::kBwrap && o.exit_code > 128 && o.exit_code < 128 + NSIG) {
    o.signal = o.exit_code - 128;  // bwrap's report of a signal
    o.exit_code = -1;
  }
  o.timed_out = e.timed_out || o.signal == SIGXCPU;
  o.memory_killed = !o.timed_out && (mentions_memory(e.err) || o.signal == SIGKILL);
  o.output_truncated = e.truncated;
  o.out = std::move(e.out);
  o.err = std::move(e.err);
  o.channel = std::move(e.channel);
  return o;
}

// run() after its checks; the availability probe calls it directly.
std::vector<Outcome> run_steps(const Job& job, Isolation iso) {
  std::string dir;
  try {
    dir = make_job_dir(job);
  } catch (const Error& e) {
    return {sandbox_failure(e.what())};
  }
  std::vector<Outcome> outcomes;
  for (const Step& step : job.steps) {
    const Command cmd =
        iso == Isolation::kBwrap ? bwrap_command(job, step, dir) : direct_command(job, step, dir);
    outcomes.push_back(to_outcome(execute(cmd, step.stdin_data), iso));
    const Outcome& o = outcomes.back();
    if ((step.required && !o.ok()) || (step.stop_on_timeout && o.timed_out)) break;
  }
  try {
    remove_tree(dir);
  } catch (const Error& e) {
    outcomes.back() = sandbox_failure(e.what());
  }
  return outcomes;
}

}  // namespace

Isolation isolation_from_name(const std::string& name) {
  if (name == "bwrap") return Isolation::kBwrap;
  if (name == "none") return Isolation::kNone;
  fail("sandbox: unknown isolation '", name, "' (use bwrap, or none to run without a sandbox)");
}

const char* isolation_name(Isolation iso) { return iso == Isolation::kBwrap ? "bwrap" : "none"; }

std::vector<Outcome> run(const Job& job, Isolation iso) {
  check_job(job);
  if (iso == Isolation::kBwrap && !bwrap_unavailable_reason().empty())
    return {sandbox_failure(bwrap_unavailable_reason())};
  return run_steps(job, iso);
}

std::string bwrap_unavailable_reason() {
  static const std::string reason = [] {
    if (host().bwrap.empty())
      return std::string("bubblewrap (bwrap) is not installed: install the Debian package "
                         "bubblewrap (scripts/install-deps.sh does)");
    if (host().prlimit.empty())
      return std::string("prlimit is not installed: install the Debian package util-linux");
    Job probe;
    probe.steps.push_back(Step{{"true"}, "", Limits{}, false, true, false});
    probe.steps[0].limits.timeout_s = 10;
    const Outcome o = run_steps(probe, Isolation::kBwrap)[0];
    if (o.ok()) return std::string();
    const std::string why = o.sandbox_error ? o.error : o.err.substr(0, o.err.find('\n'));
    return "bwrap cannot start a sandbox here (" + why +
           "): allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on "
           "Ubuntu also kernel.apparmor_restrict_unprivileged_userns=0; in a container, start it "
           "with user namespaces allowed), or run without a sandbox (sandbox: none)";
  }();
  return reason;
}

Pool::Pool(int workers, Isolation iso) : workers_(workers), iso_(iso) {
  RLVR_CHECK(workers >= 0, "sandbox: workers must be >= 0 (0: the number of cores), got ",
             workers);
  if (workers_ == 0) workers_ = std::max(1, int(::sysconf(_SC_NPROCESSORS_ONLN)));
}

std::vector<std::vector<Outcome>> Pool::run_all(const std::vector<Job>& jobs) const {
  for (const Job& job : jobs) check_job(job);  // before any thread, so run() cannot throw there
  std::vector<std::vector<Outcome>> results(jobs.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < jobs.size();) results[i] = run(jobs[i], iso_);
  };
  std::vector<std::thread> threads;
  const size_t extra = std::min<size_t>(size_t(workers_), jobs.size());
  for (size_t t = 1; t < extra; ++t) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  return results;
}

}  // namespace rlvr::sandbox
