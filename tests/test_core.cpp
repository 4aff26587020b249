// Tests of the torch-free core pieces that every module shares: the clock (Stopwatch) and the
// console progress reporter.
#include <gtest/gtest.h>

#include <thread>

#include "rlvr/core/clock.h"
#include "rlvr/core/progress.h"

using namespace rlvr;

TEST(Core, StopwatchMeasuresAndRestarts) {
  Stopwatch w;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double a = w.seconds();
  EXPECT_GE(a, 0.019);
  EXPECT_LT(a, 5.0);
  w.restart();
  EXPECT_LT(w.seconds(), a);
}

TEST(Core, ProgressLinesCountFromTheFirstStep) {
  Progress p(4, 10);  // a run resumed at step 4
  testing::internal::CaptureStderr();
  p.report(5, "loss 0.5");
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.rfind("step 5/10 ( 50%) | loss 0.5 | ", 0), 0u) << out;
  EXPECT_NE(out.find(" s/step, ETA "), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n');
}

TEST(Core, ProgressBarRedrawsInPlaceAndEndsTheLine) {
  Progress p(0, 4, "problems", Progress::Style::kBar);
  testing::internal::CaptureStderr();
  p.report(2, "base 8-shot");
  p.report(4, "base 8-shot");
  const std::string out = testing::internal::GetCapturedStderr();
  const std::string half = "\rbase 8-shot [" + std::string(15, '#') + std::string(15, ' ') + "] 2/4  ";
  EXPECT_EQ(out.rfind(half, 0), 0u) << out;
  EXPECT_NE(out.find("\rbase 8-shot [" + std::string(30, '#') + "] 4/4  "), std::string::npos) << out;
  EXPECT_NE(out.find(" problems/s"), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1);  // only the finished bar ends the line
}
