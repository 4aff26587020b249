// The one clock for durations: a Stopwatch on std::chrono::steady_clock (monotonic, so a
// changed system time never makes a duration negative). Torch-free, header-only.
#pragma once
#include <chrono>

namespace rlvr {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  // Seconds since construction or the last restart().
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  void restart() { start_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace rlvr
