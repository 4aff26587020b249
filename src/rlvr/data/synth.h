// Procedurally generated multi-step arithmetic word problems in GSM8K format, short enough
// for a tiny byte-level model ("Tom has 3 apples. He gets 4 more. How many apples does he have
// now?"). Train/test are disjoint by construction: each problem's arithmetic skeleton is hashed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "rlvr/data/dataset.h"

namespace rlvr {

enum class Split { kTrain, kTest };
Split parse_split(const std::string& s);  // "train" | "test"

struct SynthOptions {
  int64_t min_steps = 1;      // operations after the starting amount (at least 1)
  int64_t max_steps = 2;      // inclusive
  int64_t max_number = 9;     // every number written in the question is in [1, max_number]
  std::string ops = "+-";     // allowed operations: '+', '-', '*' (times 2 or 3)
  int64_t test_percent = 20;  // share of skeletons (e.g. "3+4-2") hashed to the test split
  // What is hashed to pick the split: the arithmetic skeleton (test needs unseen arithmetic) or
  // the whole question text (test questions are new, their arithmetic may occur in train).
  bool split_by_text = false;
};

// n problems of `split`, reproducible from `seed`. Answers are non-negative integers; the
// solution has one "a op b=<<a op b=c>>c" line per step, then "#### c".
std::vector<Problem> synth_problems(int64_t n, uint64_t seed, const SynthOptions& opts,
                                    Split split);
// The split a skeleton string belongs to (exposed for tests).
Split synth_split_of(const std::string& skeleton, int64_t test_percent);

}  // namespace rlvr
