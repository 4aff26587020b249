// Synthetic word problems: a starting amount, then 1..n add/subtract/multiply steps, each
// sentence from a small template set with varied names and objects (see synth.h).
#include "rlvr/data/synth.h"

#include <algorithm>

#include "rlvr/core/error.h"
#include "rlvr/data/shuffle.h"

namespace rlvr {

using namespace rlvr::data;  // NOLINT: module-private helpers

Split parse_split(const std::string& s) {
  if (s == "train") return Split::kTrain;
  if (s == "test") return Split::kTest;
  fail("unknown split '", s, "'; use train or test");
}

Split synth_split_of(const std::string& skeleton, int64_t test_percent) {
  uint64_t h = fnv1a64("rlvr-synth:" + skeleton);
  return static_cast<int64_t>(h % 100) < test_percent ? Split::kTest : Split::kTrain;
}

namespace {

struct Person {
  const char* name;
  const char* he;  // subject pronoun, lower case
};
constexpr Person kPeople[] = {{"Tom", "he"}, {"Ann", "she"}, {"Sam", "he"},  {"Mia", "she"},
                              {"Ben", "he"}, {"Lily", "she"}, {"Max", "he"}, {"Zoe", "she"}};
constexpr const char* kObjects[] = {"apples", "pens", "cards", "coins",
                                    "books",  "eggs", "toys",  "shells"};
constexpr const char* kAdd[] = {"gets", "finds", "buys"};           // "{He} gets 4 more."
constexpr const char* kSub[] = {"gives away", "loses", "sells"};    // "{He} loses 2."
constexpr const char* kMul[] = {"", "", "doubles", "triples"};      // by factor 2 or 3

std::string cap(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

template <typename T, size_t N>
const T& pick(const T (&arr)[N], SplitMix64& g) {
  return arr[g.below(N)];
}

// One random problem; `skeleton` receives its arithmetic (e.g. "3+4-2").
Problem make_one(SplitMix64& g, const SynthOptions& o, std::string* skeleton) {
  const Person& who = pick(kPeople, g);
  const std::string obj = pick(kObjects, g);
  const std::string he = who.he;
  int64_t cur = g.between(1, o.max_number);
  std::string noun = cur == 1 ? obj.substr(0, obj.size() - 1) : obj;  // "1 apple"
  std::string q = std::string(who.name) + " has " + std::to_string(cur) + " " + noun + ".";
  std::string sol;
  *skeleton = std::to_string(cur);
  int64_t steps = g.between(o.min_steps, o.max_steps);
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<char> allowed;
    for (char c : o.ops)
      if (c != '-' || cur > 0) allowed.push_back(c);
    if (allowed.empty()) allowed.push_back('+');
    char op = allowed[g.below(allowed.size())];
    int64_t b, res;
    if (op == '+') {
      b = g.between(1, o.max_number);
      res = cur + b;
      q += " " + cap(he) + " " + pick(kAdd, g) + " " + std::to_string(b) + " more.";
    } else if (op == '-') {
      b = g.between(1, std::min(cur, o.max_number));
      res = cur - b;
      q += " " + cap(he) + " " + pick(kSub, g) + " " + std::to_string(b) + ".";
    } else {
      b = g.between(2, 3);
      res = cur * b;
      q += " " + cap(he) + " " + kMul[b] + " them.";
    }
    std::string expr = std::to_string(cur) + op + std::to_string(b);
    sol += expr + "=<<" + expr + "=" + std::to_string(res) + ">>" + std::to_string(res) + "\n";
    *skeleton += op + std::to_string(b);
    cur = res;
  }
  q += " How many " + obj + " does " + he + " have now?";
  Problem p;
  p.question = q;
  p.answer = std::to_string(cur);
  p.solution_raw = sol + "#### " + p.answer;
  p.row = gsm8k_json_line(p);
  return p;
}

}  // namespace

std::vector<Problem> synth_problems(int64_t n, uint64_t seed, const SynthOptions& opts,
                                    Split split) {
  RLVR_CHECK(n >= 0, "synth: n must be >= 0, got ", n);
  RLVR_CHECK(opts.min_steps >= 1 && opts.min_steps <= opts.max_steps,
             "synth: steps range ", opts.min_steps, "..", opts.max_steps,
             " is invalid; use 1 <= A <= B");
  RLVR_CHECK(opts.max_number >= 1, "synth: max number must be >= 1, got ", opts.max_number);
  RLVR_CHECK(opts.test_percent > 0 && opts.test_percent < 100,
             "synth: test percent must be in 1..99, got ", opts.test_percent);
  RLVR_CHECK(!opts.ops.empty() && opts.ops.find_first_not_of("+-*") == std::string::npos,
             "synth: ops '", opts.ops, "' must be a non-empty subset of \"+-*\"");
  SplitMix64 g(derive_seed(seed, split == Split::kTest ? 0x7e57u : 0x7a1bu));
  std::vector<Problem> out;
  out.reserve(static_cast<size_t>(n));
  const int64_t max_tries = 1000 * n + 100000;
  std::string skel;
  for (int64_t tries = 0; static_cast<int64_t>(out.size()) < n; ++tries) {
    RLVR_CHECK(tries < max_tries, "synth: could not draw ", n,
               " problems for this split; widen --steps or --max-number");
    Problem p = make_one(g, opts, &skel);
    const std::string& key = opts.split_by_text ? p.question : skel;
    if (synth_split_of(key, opts.test_percent) == split) out.push_back(std::move(p));
  }
  return out;
}

}  // namespace rlvr
