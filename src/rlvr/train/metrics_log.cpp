// JSONL sinks: metrics.jsonl and completions.jsonl.
#include "rlvr/train/metrics_log.h"

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

}  // namespace rlvr
