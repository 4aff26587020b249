// Run outputs shared by the trainers: metrics.jsonl (one JSON object per logged step),
// completions.jsonl, and the console progress report with ETA (core/progress.h).
#pragma once
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "rlvr/core/progress.h"

namespace rlvr {

class JsonlWriter {
 public:
  JsonlWriter() = default;
  // append=false truncates the file (a fresh run); a resumed run appends.
  JsonlWriter(const std::string& path, bool append);
  void write(const nlohmann::json& row);
  bool is_open() const { return out_.is_open(); }

 private:
  std::string path_;
  std::ofstream out_;
};

// Keeps only the rows of a metrics file whose step is <= last_step (a resumed run rewrites the
// steps after its checkpoint).
void truncate_metrics(const std::string& path, int64_t last_step);

}  // namespace rlvr
