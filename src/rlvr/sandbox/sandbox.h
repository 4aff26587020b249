// rlvr::sandbox: runs untrusted programs (model output) isolated, bounded and in parallel.
//
// A Job is a fresh private job directory holding the job's files plus one or more Steps run one
// after the other (compile, then run the binary once per stdin). Each step is one program under
// its own Limits. With Isolation::kBwrap every step runs in bubblewrap: new user, pid, ipc, uts
// and network namespaces (no network at all), read-only binds of the system directories only
// (/usr and its /bin /lib* links, the dynamic loader's /etc files, /etc/alternatives, plus
// Job::ro_binds), /proc, a read-only minimal /dev, the working directory /work (also $HOME,
// $TMPDIR and /tmp; see Step::keep_files), a read-only root, and nothing else: no home directory,
// project, run directory or host /tmp. Started by root, programs run as uid/gid 65534 (nobody).
// Isolation::kNone runs the same steps with the same limits (but the process count), environment
// and timeout, without namespaces (benchmark baseline; `sandbox: none`, whose warning the caller
// prints). docs/rewards.md "The sandbox" says what is guaranteed and what is not.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rlvr::sandbox {

// Limits of one step (one program run).
struct Limits {
  double timeout_s = 5;     // wall clock; at the deadline the step's whole process tree is killed
  double cpu_s = 0;         // RLIMIT_CPU seconds; 0: timeout_s rounded up, plus 1
  int64_t memory_mb = 1024;  // RLIMIT_AS (address space) of every process
  int64_t file_size_mb = 16;  // RLIMIT_FSIZE: the largest file a process may write
  int64_t open_files = 64;    // RLIMIT_NOFILE
  // RLIMIT_NPROC (processes and threads), set inside the sandbox's user namespace, so it counts
  // the step's own only: concurrent jobs do not share it. Not set by Isolation::kNone, where it
  // would count every process of the uid on the host.
  int64_t processes = 64;
  int64_t output_bytes = 64 * 1024;  // kept of stdout, of stderr and of the channel each; the rest
                                     // is read and dropped (Outcome::output_truncated)
  int64_t work_mb = 64;  // size of the fresh /work tmpfs (memory) of a step without keep_files
};

// A file written into the working directory before the first step. `name` is a plain file name
// (letters, digits, '.', '_', '-'; no '/', not "." or "..").
struct File {
  std::string name;
  std::string content;
  bool executable = false;  // mode 0755 instead of 0644
};

// One program run in the working directory (the current directory, /work inside).
struct Step {
  // argv[0] is looked up on PATH=/usr/local/bin:/usr/bin:/bin, or is a path ("./main").
  std::vector<std::string> argv;
  std::string stdin_data;  // the program's whole stdin; then end of file
  Limits limits;
  // true: fd 3 is a pipe of its own whose bytes come back in Outcome::channel (capped like
  // stdout), so a test harness can report results apart from what the program prints.
  bool result_channel = false;
  // true: when this step is not ok() the job ends here and later steps do not run.
  // A compile step is required; the test runs after it are not, so each one runs.
  bool required = true;
  // false: /work is a fresh tmpfs of Limits::work_mb holding the job directory's files, bound in
  // read-only; what the step writes is gone after it. true: /work is the job directory itself,
  // read-write, so what the step writes (a compiled binary) is there for the later steps; its size
  // is bounded only by file_size_mb per file, so give it to trusted programs (a compiler).
  // Isolation::kNone always works in the job directory, read-write.
  bool keep_files = false;
  // true: when this step times out, the job ends here (later steps do not run), so a program
  // that loops costs one timeout, not one per test case.
  bool stop_on_timeout = false;
};

struct Job {
  std::vector<File> files;
  std::vector<Step> steps;
  // Extra host paths bound read-only at the same place (a compiler or interpreter outside /usr).
  std::vector<std::string> ro_binds;
  // Extra "NAME=value" entries for the programs' environment, which is otherwise only PATH,
  // HOME=TMPDIR=/work, LANG=C.UTF-8, PYTHONDONTWRITEBYTECODE=1 and PYTHONHASHSEED=0.
  std::vector<std::string> env;
};

// What became of one step.
struct Outcome {
  int exit_code = -1;  // the program's exit status; -1 when a signal ended it or it never ran
  // The signal that ended the program (SIGKILL at the timeout), else 0. bwrap reports a signal
  // as the exit status 128 + n, so under kBwrap an exit status above 128 reads as signal n.
  int signal = 0;
  bool timed_out = false;  // killed at Limits::timeout_s, or by the CPU limit (SIGXCPU)
  // Heuristic: the program ran out of address space. True when, without a timeout, stderr holds
  // a MemoryError (Python) or std::bad_alloc (C++) report or "Cannot allocate memory", or
  // the program was killed by a SIGKILL nobody here sent (the kernel's OOM killer). A program can
  // print those words (or kill itself) too; only the counter is fooled, not a score.
  bool memory_killed = false;
  bool output_truncated = false;  // stdout, stderr or the channel went past output_bytes
  // The sandbox failed (bwrap unavailable or unable to set up, a file could not be written,
  // fork failed): not the program's fault; `error` says why in one line.
  bool sandbox_error = false;
  std::string error;
  std::string out, err, channel;  // bytes as written (not necessarily UTF-8), capped
  double wall_s = 0;

  // Ran to the end with exit status 0 (no signal, no timeout, no sandbox error).
  bool ok() const { return !sandbox_error && !timed_out && signal == 0 && exit_code == 0; }
};

enum class Isolation { kBwrap, kNone };

// "bwrap" / "none"; anything else throws rlvr::Error naming both.
Isolation isolation_from_name(const std::string& name);
const char* isolation_name(Isolation iso);

// "" when bubblewrap runs here with user namespaces (checked once, by starting a sandbox);
// otherwise one line saying what is missing and the fix. Callers refuse Isolation::kBwrap with it.
std::string bwrap_unavailable_reason();

// Runs the job's steps in order and returns one Outcome per step that ran: all of them, or up to
// and including the first required step that was not ok(). The job directory is removed
// afterwards. Under kBwrap no process of the job survives the call (kNone kills the process
// group only). kBwrap where bwrap_unavailable_reason() is not "" gives one sandbox_error
// Outcome with that reason. Throws rlvr::Error for a malformed job: no step, an empty argv, a
// bad file name, limits out of range, a ro_binds path that is not absolute or does not exist, an
// env entry without '='. Thread-safe.
std::vector<Outcome> run(const Job& job, Isolation iso);

// Runs jobs in parallel on worker threads (each job's steps in order on one worker).
class Pool {
 public:
  // workers 0: the number of online cores.
  explicit Pool(int workers = 0, Isolation iso = Isolation::kBwrap);
  int workers() const { return workers_; }
  Isolation isolation() const { return iso_; }
  // Result i is run(jobs[i], isolation()): in input order, whatever the number of workers.
  std::vector<std::vector<Outcome>> run_all(const std::vector<Job>& jobs) const;

 private:
  int workers_;
  Isolation iso_;
};

}  // namespace rlvr::sandbox
