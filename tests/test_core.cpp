// Tests of the torch-free core pieces that every module shares: the clock (Stopwatch), the
// console progress reporter and the did-you-mean hints (spelling.h).
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "rlvr/core/clock.h"
#include "rlvr/core/progress.h"
#include "rlvr/core/spelling.h"

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

TEST(Core, ClosestNameIsATypoOrNothing) {
  const std::vector<std::string> commands = {"train", "tokenize", "sft", "eval"};
  EXPECT_EQ(edit_distance("trian", "train"), 2u);
  EXPECT_EQ(closest_name("trian", commands), "train");
  EXPECT_EQ(closest_name("tokenise", commands), "tokenize");
  EXPECT_EQ(closest_name("frobnicate", commands), "");
  // A short name may not be replaced whole: "m" is no typo of "h".
  EXPECT_EQ(closest_name("m", {"h"}), "");
  EXPECT_EQ(closest_name("nn", {"n", "model"}), "n");
  EXPECT_EQ(closest_name("", {"h"}), "");
}
