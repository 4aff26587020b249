// Run outputs shared by the trainers: metrics.jsonl (one JSON object per logged step),
// completions.jsonl, and a one-line console progress report with ETA.
#pragma once
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

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

class Progress {
 public:
  Progress(int64_t first_step, int64_t total_steps);
  // "step 3/10 (30%) | <summary> | 2.1 s/step, ETA 0:15" on stderr.
  void report(int64_t step, const std::string& summary);

 private:
  int64_t first_, total_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace rlvr
