// Progress lines and bars on stderr (see progress.h).
#include "rlvr/core/progress.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace rlvr {

Progress::Progress(int64_t first, int64_t total, std::string unit, Style style)
    : first_(first), total_(total), unit_(std::move(unit)), style_(style) {}

void Progress::report(int64_t done, const std::string& text) {
  if (style_ == Style::kLines) report_line(done, text);
  else draw_bar(done, text);
  std::fflush(stderr);
}

void Progress::report_line(int64_t done, const std::string& summary) const {
  const double per = done > first_ ? clock_.seconds() / static_cast<double>(done - first_) : 0.0;
  const int64_t eta = static_cast<int64_t>(per * static_cast<double>(total_ - done));
  std::fprintf(stderr, "%s %lld/%lld (%3.0f%%) | %s | %.2f s/%s, ETA %lld:%02lld\n", unit_.c_str(),
               (long long)done, (long long)total_, 100.0 * done / std::max<int64_t>(total_, 1),
               summary.c_str(), per, unit_.c_str(), (long long)(eta / 60), (long long)(eta % 60));
}

void Progress::draw_bar(int64_t done, const std::string& label) const {
  const int width = 30;
  const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : width;
  std::string bar(filled, '#');
  bar.resize(width, ' ');
  const double secs = clock_.seconds();
  std::fprintf(stderr, "\r%s [%s] %lld/%lld  %.2f %s/s", label.c_str(), bar.c_str(), (long long)done,
               (long long)total_, secs > 0 ? (done - first_) / secs : 0.0, unit_.c_str());
  if (done == total_) std::fprintf(stderr, "\n");
}

}  // namespace rlvr
