// Run-directory guards (run_dir.h): the model-folder check, run files, the pid lock.
#include "rlvr/train/run_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/tokenizer/tokenizer.h"

namespace rlvr {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_run_file(const std::string& name) {
  static const char* const files[] = {
      "metrics.jsonl",          "completions.jsonl", "recipe.json",          "config.json",
      "adapter_config.json",    "adapter_model.safetensors",                 "model.safetensors",
      "model.safetensors.index.json", "report.html"};
  for (const char* f : files)
    if (name == f) return true;
  for (const std::string& f : tokenizer_file_names())
    if (name == f) return true;
  return starts_with(name, "checkpoint-") || (starts_with(name, "nonfinite-") && ends_with(name, ".jsonl")) ||
         (starts_with(name, "model-") && ends_with(name, ".safetensors"));
}

// The pid in a lock file; 0 when it holds none (unreadable, or being written).
long lock_owner(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  long pid = 0;
  if (f) {
    if (std::fscanf(f, "%ld", &pid) != 1) pid = 0;
    std::fclose(f);
  }
  return pid;
}

bool process_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

}  // namespace

void check_output_dir_outside_model(const std::string& output_dir, const std::string& model_dir) {
  const std::string out = real_path(output_dir), model = real_path(model_dir);
  RLVR_CHECK(out != model && !starts_with(out, model == "/" ? model : model + "/"), "output_dir ", output_dir,
             " is ", out == model ? "the model directory" : "inside the model directory", " (model_name_or_path ",
             model_dir, "); the run would write over the model: choose another output_dir");
}

std::vector<std::string> run_files(const std::string& dir) {
  std::vector<std::string> out;
  if (!is_directory(dir)) return out;
  for (const auto& name : list_dir(dir))
    if (is_run_file(name)) out.push_back(name);
  return out;
}

void clear_run_files(const std::string& dir) {
  for (const auto& name : run_files(dir)) remove_tree(join_path(dir, name));
}

RunLock::RunLock(const std::string& dir) : path_(join_path(dir, "run.lock")) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      const bool ok = ::write(fd, pid.data(), pid.size()) == static_cast<ssize_t>(pid.size());
      ::close(fd);
      RLVR_CHECK(ok, path_, ": cannot write the lock file (", std::strerror(errno), ")");
      return;
    }
    RLVR_CHECK(errno == EEXIST, path_, ": cannot create the lock file (", std::strerror(errno), ")");
    const long owner = lock_owner(path_);
    RLVR_CHECK(!process_alive(owner), dir, " is in use by another run (process ", owner, ", lock file ", path_,
               "); wait for it to finish or stop it");
    std::fprintf(stderr, "notice: %s: taking over the lock of process %ld, which no longer runs\n", path_.c_str(),
                 owner);
    ::unlink(path_.c_str());
  }
  fail(path_, ": another run took the lock at the same moment; try again");
}

RunLock::~RunLock() {
  if (lock_owner(path_) == static_cast<long>(::getpid())) ::unlink(path_.c_str());
}

}  // namespace rlvr
