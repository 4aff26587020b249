// The one console progress reporter (stderr) for loops over a known number of units: training
// steps print one line per report, evaluation problems redraw one bar in place. Torch-free.
#pragma once
#include <cstdint>
#include <string>

#include "rlvr/core/clock.h"

namespace rlvr {

class Progress {
 public:
  enum class Style {
    kLines,  // "step 3/10 (30%) | <text> | 2.10 s/step, ETA 0:15", one line per report
    kBar,    // "\r<text> [#########      ] 3/10  1.50 problems/s", redrawn; a newline when done
  };
  // Counts `unit`s up to `total`; `first` were done before this run (a resumed run), so rates
  // and the ETA use only the units done since construction.
  Progress(int64_t first, int64_t total, std::string unit = "step", Style style = Style::kLines);
  // `done` units are finished; `text` is the summary (kLines) or the label (kBar).
  void report(int64_t done, const std::string& text);

 private:
  void report_line(int64_t done, const std::string& summary) const;
  void draw_bar(int64_t done, const std::string& label) const;

  int64_t first_, total_;
  std::string unit_;
  Style style_;
  Stopwatch clock_;
};

}  // namespace rlvr
