// JSONL sinks and the console progress line.
#include "rlvr/train/metrics_log.h"

#include <cstdio>
#include <sstream>
#include <vector>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr {

JsonlWriter::JsonlWriter(const std::string& path, bool append)
    : path_(path), out_(path, append ? std::ios::app : std::ios::trunc) {
  RLVR_CHECK(out_.good(), path, ": cannot open for writing");
}

void JsonlWriter::write(const nlohmann::json& row) {
  out_ << row.dump() << "\n";
  out_.flush();
  RLVR_CHECK(out_.good(), path_, ": write failed (disk full?)");
}

void truncate_metrics(const std::string& path, int64_t last_step) {
  if (!file_exists(path)) return;
  std::istringstream in(read_text_file(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;  // a line cut by a crash
    if (j.value("step", int64_t{0}) <= last_step) kept += line + "\n";
  }
  write_text_file(path, kept);
}

Progress::Progress(int64_t first_step, int64_t total_steps)
    : first_(first_step), total_(total_steps), start_(std::chrono::steady_clock::now()) {}

void Progress::report(int64_t step, const std::string& summary) {
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double per = step > first_ ? el / static_cast<double>(step - first_) : 0.0;
  int64_t eta = static_cast<int64_t>(per * static_cast<double>(total_ - step));
  std::fprintf(stderr, "step %lld/%lld (%3.0f%%) | %s | %.2f s/step, ETA %lld:%02lld\n",
               (long long)step, (long long)total_, 100.0 * step / std::max<int64_t>(total_, 1),
               summary.c_str(), per, (long long)(eta / 60), (long long)(eta % 60));
  std::fflush(stderr);
}

}  // namespace rlvr
