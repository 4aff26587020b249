// The `code` reward (issue 17): program extraction and output comparison (pure), the scoring rule,
// the harness report, options, then real runs in the sandbox: acceptance 1 through `rlvr score`
// (tests, test_cases, C++), programs that try to forge a pass, fraction mode, require_fence, the
// language table, counters, pool-size independence, and docs/rewards.md's example. The runs skip
// (with the reason) where bubblewrap cannot run.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>

#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/rewards/code_harness.h"
#include "rlvr/rewards/code_text.h"
#include "rlvr/rewards/reward.h"
#include "rlvr/rewards/reward_code.h"
#include "rlvr/sandbox/sandbox.h"
#include "testlib.h"

namespace rlvr {
namespace {

using nlohmann::json;
const std::vector<std::string> kPy = {"python", "py", "python3"};

// ---- extraction and comparison (pure) ----

TEST(CodeExtract, LastBlockInTheLanguageOrBare) {
  auto ex = [](const std::string& c, bool require = true) {
    return extract_program(c, kPy, require);
  };
  EXPECT_EQ(ex("```python\ndef add(a, b):\n    return a + b\n```"),
            "def add(a, b):\n    return a + b\n");
  EXPECT_EQ(ex("a\n```py\nx = 1\n```\nb\n```python\nx = 2\n```\nc"), "x = 2\n") << "the last block";
  EXPECT_EQ(ex("```python\nx = 1\n```\n```text\nnot code\n```\n"), "x = 1\n")
      << "other languages skipped";
  EXPECT_EQ(ex("```cpp\nint x;\n```"), std::nullopt) << "only blocks in the row's language";
  EXPECT_EQ(ex("```\nx = 3\n```"), "x = 3\n") << "a bare fence is the row's language";
  EXPECT_EQ(ex("```Python title\nx = 4\n```"), "x = 4\n") << "first word, case ignored";
  EXPECT_EQ(ex("```python\nx = 5\n"), "x = 5\n") << "an unclosed block runs to the end";
  EXPECT_EQ(ex("````python\n```\ninner\n```\n````\n"), "```\ninner\n```\n") << "a longer fence";
  EXPECT_EQ(ex("   ```python\nx = 6\n   ```  \n"), "x = 6\n")
      << "up to three spaces, trailing space";
  EXPECT_EQ(ex("    ```python\nx = 7\n```\n"), std::nullopt) << "four spaces: not a fence";
  EXPECT_EQ(ex("use ```python x``` inline"), std::nullopt) << "inline code is no block";
  EXPECT_EQ(ex("```python\r\nx = 8\r\n```\r\n"), "x = 8\r\n");
  EXPECT_EQ(ex("```python\n\n  \n```"), std::nullopt) << "a blank program is none";
  EXPECT_EQ(ex(""), std::nullopt);
}

TEST(CodeExtract, RequireFence) {
  const std::string bare = "def f():\n    return 1\n";
  EXPECT_EQ(extract_program(bare, kPy, true), std::nullopt);
  EXPECT_EQ(extract_program(bare, kPy, false), bare) << "no fence at all: the whole completion";
  EXPECT_EQ(extract_program("x\n```text\ny\n```\n", kPy, false), std::nullopt)
      << "a fence in another language: no program, not the whole text";
  EXPECT_EQ(extract_program("```python\nz = 1\n```", kPy, false), "z = 1\n");
}

TEST(CodeExtract, OutputsMatchLineByLineAfterTrailingWhitespace) {
  EXPECT_TRUE(outputs_match("3\n", "3"));
  EXPECT_TRUE(outputs_match("1 2  \r\n3\t\n\n\n", "1 2\n3"));
  EXPECT_TRUE(outputs_match("", "\n"));
  EXPECT_FALSE(outputs_match(" 3\n", "3")) << "leading space counts";
  EXPECT_FALSE(outputs_match("1\n\n2\n", "1\n2\n")) << "inner empty lines count";
  EXPECT_FALSE(outputs_match("3", "4"));
  EXPECT_FALSE(outputs_match("1 2", "1  2"));
}

// ---- the rule, the harness report, options (pure) ----

TEST(CodeScore, PublishedRuleAndFraction) {
  CodeRewardOptions o;
  EXPECT_EQ(code_score(false, 0, 3, o), 0.0);
  EXPECT_EQ(code_score(true, 0, 3, o), 0.25);
  EXPECT_EQ(code_score(true, 2, 3, o), 0.25);
  EXPECT_EQ(code_score(true, 3, 3, o), 1.0);
  o.fraction = true;
  o.partial = 0.2;
  EXPECT_DOUBLE_EQ(code_score(true, 0, 4, o), 0.2);
  EXPECT_DOUBLE_EQ(code_score(true, 1, 4, o), 0.4);
  EXPECT_DOUBLE_EQ(code_score(true, 4, 4, o), 1.0);
  EXPECT_EQ(code_score(false, 4, 4, o), 0.0);
}

TEST(CodeHarness, OnlyTheRunsTokensCount) {
  const HarnessTokens t = make_harness_tokens(3);
  const HarnessTokens other = make_harness_tokens(3);
  EXPECT_EQ(t.pass.size(), 3u);
  EXPECT_NE(t.pass[0], other.pass[0]) << "fresh tokens every run";
  EXPECT_EQ(t.ran.size(), 32u);
  HarnessReport r = read_harness_report(t.ran + "\n" + t.pass[2] + "\n" + other.pass[0] + "\n", t);
  EXPECT_TRUE(r.ran);
  EXPECT_FALSE(r.syntax_error);
  EXPECT_EQ(r.passed, 1u);
  r = read_harness_report("PASSED ALL\n" + t.pass[0] + "\n", t);
  EXPECT_FALSE(r.ran);
  EXPECT_EQ(r.passed, 0u) << "a pass counts only after the program ran";
  const std::string payload = harness_payload("x = 1", "", {"assert x"}, t);
  EXPECT_EQ(python_test_harness().find(t.ran), std::string::npos);
  EXPECT_NE(payload.find(t.ran), std::string::npos) << "tokens travel on stdin only";
}

TEST(CodeOptions, ValidatedWithOneLine) {
  auto error = [](const json& o) {
    try {
      code_reward_options("code", o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error({{"timeout", 1}}).find("timeout_s"), std::string::npos);
  EXPECT_NE(error({{"mode", "some"}}).find("mode 'some' is not one of all, fraction"),
            std::string::npos);
  EXPECT_NE(error({{"partial", 2}}).find("partial must be in [0, 1]"), std::string::npos);
  EXPECT_NE(error({{"sandbox", "docker"}}).find("docker"), std::string::npos);
  EXPECT_NE(error({{"language", "rust"}}).find("language 'rust'"), std::string::npos);
  EXPECT_NE(
      error({{"languages", {{"rust", {{"file", "main.rs"}}}}}}).find("needs \"file\" and \"run\""),
      std::string::npos);
  EXPECT_NE(
      error({{"languages", {{"sh", {{"file", "a.sh"}, {"run", 3}}}}}}).find("languages.sh.run"),
      std::string::npos);
  const CodeRewardOptions o = code_reward_options(
      "code", {{"timeout_s", 2},
               {"mode", "fraction"},
               {"require_fence", false},
               {"languages",
                {{"sh", {{"file", "main.sh"}, {"run", {"/bin/sh", "main.sh"}}}},
                 {"cpp", {{"compile", {"g++", "-O2", "-o", "solution", "solution.cpp"}}}}}}});
  EXPECT_TRUE(o.fraction);
  EXPECT_FALSE(o.require_fence);
  EXPECT_EQ(o.timeout_s, 2);
  EXPECT_EQ(o.languages.at("sh").fences, std::vector<std::string>{"sh"});
  EXPECT_EQ(o.languages.at("cpp").compile[1], "-O2");
  EXPECT_EQ(o.languages.at("cpp").run, std::vector<std::string>{"./solution"}) << "other keys kept";
}

// ---- runs in the sandbox ----

const std::string kAdd = "```python\ndef add(a, b):\n    return a + b\n```";
const std::string kSub = "```python\ndef add(a, b):\n    return a - b\n```";
const std::string kSyntax = "```python\ndef add(a, b)\n    return a + b\n```";
const json kAddTests = {"assert add(1, 2) == 3", "assert add(2, 2) == 4"};
const json kSumCases = {{{"input", "1 2\n"}, {"output", "3\n"}},
                        {{"input", "5 7\n"}, {"output", "12"}}};
const std::string kPySum = "```python\na, b = map(int, input().split())\nprint(a + b)\n```";
const std::string kPyDiff = "```python\na, b = map(int, input().split())\nprint(a - b)\n```";
const std::string kPyBad = "```python\na, b = map(int, input().split()\nprint(a + b)\n```";
const std::string kCppSum =
    "```cpp\n#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a + b "
    "<< '\\n'; }\n```";
const std::string kCppDiff =
    "```cpp\n#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a - b "
    "<< '\\n'; }\n```";
const std::string kCppBad =
    "```cpp\n#include <iostream>\nint main() { std::cout << undeclared; }\n```";

RewardSample row(const std::string& completion, json fields) {
  RewardSample s;
  s.completion = completion;
  s.fields = std::move(fields);
  return s;
}

class CodeRun : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = sandbox::bwrap_unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << "the sandbox cannot run here: " << why;
  }
  // Scores `batch` with a fresh reward built from `opts` (short timeouts keep the tests fast).
  std::vector<double> score(const std::vector<RewardSample>& batch, json opts = json::object()) {
    if (!opts.contains("timeout_s")) opts["timeout_s"] = 3;
    reward_ = make_reward("code", opts);
    return reward_->score(batch);
  }
  int64_t counter(const std::string& key) const {
    for (const auto& [k, v] : reward_->counters())
      if (k == key) return v;
    return -1;
  }
  std::unique_ptr<RewardFunction> reward_;
};

// Acceptance 1, as the issue states it: `rlvr score --rewards code` gives 1.0, 0.25 and 0 for a
// right body, a wrong body and a syntax error, for `tests`, for `test_cases` and for C++; the
// compile errors are counted on stderr.
TEST_F(CodeRun, ScoreCliAcceptance) {
  std::string in;
  auto line = [&](const std::string& completion, json fields) {
    fields["completion"] = completion;
    in += fields.dump() + "\n";
  };
  for (const auto& c : {kAdd, kSub, kSyntax}) line(c, {{"tests", {"assert add(1, 2) == 3"}}});
  for (const auto& c : {kPySum, kPyDiff, kPyBad}) line(c, {{"test_cases", kSumCases}});
  for (const auto& c : {kCppSum, kCppDiff, kCppBad})
    line(c, {{"test_cases", kSumCases}, {"language", "cpp"}});
  auto r = test::run_cmd(test::rlvr_bin() + " score --rewards code", in);
  ASSERT_EQ(r.status, 0) << r.err;
  std::string want;
  for (int k = 0; k < 3; ++k)
    want +=
        "{\"rewards\":{\"code\":1.0},\"total\":1.0}\n{\"rewards\":{\"code\":0.25},\"total\":0.25}\n"
        "{\"rewards\":{\"code\":0.0},\"total\":0.0}\n";
  EXPECT_EQ(r.out, want);
  EXPECT_EQ(r.err, "rlvr score: rewards/code/compile_errors = 3\n");
}

// A program cannot pass a test it did not pass: printing a success marker, exiting with status 0
// before the tests, replacing AssertionError, sys.exit, builtins (exec, compile, __import__,
// BaseException), writing guesses to every file descriptor, killing itself. Each of these
// programs has a wrong add(); a program that ran scores the partial 0.25, one that never got to
// the tests 0. The honest program beside them scores 1.
TEST_F(CodeRun, ForgedResultsDoNotPass) {
  const std::vector<std::pair<std::string, double>> programs = {
      {"def add(a, b):\n    return a + b\n", 1.0},
      {"def add(a, b):\n    return 0\nprint('PASSED')\nprint('All tests passed. OK')\n", 0.25},
      {"import sys\ndef add(a, b):\n    return 0\nsys.exit(0)\n", 0.0},
      {"import os\ndef add(a, b):\n    return 0\nprint('OK', flush=True)\nos._exit(0)\n", 0.0},
      {"import builtins\nclass Never(Exception):\n    pass\nbuiltins.AssertionError = Never\n"
       "def add(a, b):\n    return 0\n",
       0.25},
      {"import builtins, sys\nsys.exit = lambda *a: None\nbuiltins.exec = lambda *a, **k: None\n"
       "builtins.compile = lambda *a, **k: None\nbuiltins.BaseException = int\n"
       "builtins.__import__ = lambda *a, **k: None\ndef add(a, b):\n    return 0\n",
       0.25},
      {"import os\ndef add(a, b):\n    os._exit(0)\n", 0.25},
      {"import sys\ndef add(a, b):\n    sys.exit(0)\n", 0.25},
      {"import os\nfor fd in range(1, 64):\n    try:\n        os.write(fd, b'pass ok 0 1 True\\n' "
       "* 4)\n"
       "    except OSError:\n        pass\ndef add(a, b):\n    return 0\n",
       0.25},
      {"import atexit, os\natexit.register(lambda: os.write(3, b'pass\\n'))\ndef add(a, b):\n    "
       "return 0\n",
       0.25},
      {"import os, signal\ndef add(a, b):\n    return 0\nos.kill(os.getpid(), signal.SIGKILL)\n",
       0.0},
  };
  std::vector<RewardSample> batch;
  for (const auto& [p, want] : programs)
    batch.push_back(row("```python\n" + p + "```", {{"tests", kAddTests}}));
  const std::vector<double> got = score(batch);
  for (size_t i = 0; i < programs.size(); ++i)
    EXPECT_EQ(got[i], programs[i].second) << programs[i].first;
}

// Issue 17 acceptance 2 through the reward: each hostile program, given as a completion with a
// test, scores 0 (or the partial 0.25 where it really ran and its add() is wrong, or 1.0 where it
// really ran and its add() is right), within the timeout + 1 s, and the host is unharmed (the
// sandbox's own tests, test_sandbox, check each effect in detail).
TEST_F(CodeRun, HostileProgramsScoreWhatTheyEarnedWithinTheTimeout) {
  const std::string dir = test::scratch_dir("code_hostile");
  const std::string planted = dir + "/secret.txt", outside = dir + "/written-by-the-program";
  std::ofstream(planted) << "42";
  const std::string home = std::string(std::getenv("HOME") ? std::getenv("HOME") : "/root");
  const std::string marker = "rlvr_hostile_" + std::to_string(::getpid());
  const std::string wrong = "def add(a, b):\n    return 0\n";
  const std::vector<std::tuple<std::string, std::string, double>> programs = {
      {"infinite loop", "while True:\n    pass\n", 0.0},
      {"fork bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", 0.0},
      {"8 GB", "x = bytearray(8 << 30)\n" + wrong, 0.0},
      {"1 GB to stdout", "import sys\nfor _ in range(1024):\n    sys.stdout.write('x' * (1 << 20))\n" + wrong, -1},
      {"write outside", "open('" + outside + "', 'w').write('x')\n" + wrong, 0.0},
      {"read planted", "print(open('" + planted + "').read())\n" + wrong, 0.0},
      {"read HOME", "import os\nprint(os.listdir('" + home + "'))\n" + wrong, 0.0},
      {"kill all", "import os\nos.kill(-1, 9)\n" + wrong, -1},  // Linux spares the caller
      {"kill parent", "import os\nos.kill(os.getppid(), 9)\n" + wrong, -1},
      {"background", "import subprocess\nsubprocess.Popen(['python3', '-c', 'import time; time.sleep(30)  # " +
                         marker + "'])\n" + wrong, 0.25},
      {"segfault", "import ctypes\nctypes.string_at(0)\n" + wrong, 0.0},
      {"non-UTF-8", "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\x80')\ndef add(a, b):\n    return a + b\n", 1.0},
  };
  for (const auto& [what, program, want] : programs) {
    const Stopwatch clock;
    const std::vector<double> got =
        score({row("```python\n" + program + "```", {{"tests", kAddTests}})}, {{"timeout_s", 2}});
    if (want >= 0)
      EXPECT_EQ(got[0], want) << what;
    else  // killed at the timeout (0) or done first (0.25): either is what it earned
      EXPECT_TRUE(got[0] == 0.0 || got[0] == 0.25) << what << ": " << got[0];
    EXPECT_LT(clock.seconds(), 3.0 + 0.5) << what;  // timeout + 1 s, and the harness's start
    EXPECT_EQ(counter("sandbox_errors"), 0) << what;
  }
  EXPECT_FALSE(file_exists(outside));
  std::ifstream in(planted);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "42");
  // "[r]lvr..." matches the sleeper's command line but not the shell's that runs pgrep.
  EXPECT_NE(std::system(("pgrep -f '[r]" + marker.substr(1) + "' >/dev/null").c_str()), 0)
      << "a background process outlived the reward call";
}

// A program that loops on its test cases costs one timeout: the cases after the first timeout
// do not run and count as failed (so 0 here: no case ran before it).
TEST_F(CodeRun, ALoopOnTestCasesCostsOneTimeout) {
  const std::string loop = "```python\nwhile True:\n    pass\n```";
  json cases = json::array();
  for (int i = 0; i < 6; ++i) cases.push_back({{"input", "1 2\n"}, {"output", "3"}});
  const Stopwatch clock;
  EXPECT_EQ(score({row(loop, {{"test_cases", cases}})}, {{"timeout_s", 1}}), std::vector<double>{0.0});
  EXPECT_LT(clock.seconds(), 4.0);  // six timeouts would take 6 s; a correctness bound, not speed
  EXPECT_EQ(counter("timeouts"), 1);
}

TEST_F(CodeRun, FractionModeAndSetup) {
  const json tests = {"assert add(1, 1) == 2", "assert add(0, 5) == 5", "assert add(2, 2) == 4",
                      "assert add(3, 1) == 4"};
  const std::string twice = "```python\ndef add(a, b):\n    return 2 * a\n```";  // passes 2 of 4
  EXPECT_EQ(score({row(twice, {{"tests", tests}})}), std::vector<double>{0.25});
  EXPECT_EQ(score({row(twice, {{"tests", tests}}), row(kPyDiff, {{"test_cases", kSumCases}})},
                  {{"mode", "fraction"}, {"partial", 0.2}}),
            (std::vector<double>{0.2 + 0.8 * 0.5, 0.2}));
  const json setup_row = {{"tests", {"assert add(K, 1) == K + 1"}}, {"test_setup", "K = 41"}};
  EXPECT_EQ(score({row(kAdd, setup_row)}), std::vector<double>{1.0})
      << "test_setup runs before the tests";
  EXPECT_EQ(score({row(kAdd, {{"test_list", kAddTests}, {"test_setup_code", ""}})}),
            std::vector<double>{1.0})
      << "MBPP's field names";
}

TEST_F(CodeRun, RequireFence) {
  const RewardSample bare = row("def add(a, b):\n    return a + b\n", {{"tests", kAddTests}});
  EXPECT_EQ(score({bare}), std::vector<double>{0.0});
  EXPECT_EQ(score({bare}, {{"require_fence", false}}), std::vector<double>{1.0});
  EXPECT_EQ(score({row("```cpp\nint x;\n```", {{"tests", kAddTests}})}, {{"require_fence", false}}),
            std::vector<double>{0.0})
      << "a fence in another language: no program";
}

// Languages from the options' table: an interpreted one (sh) and a compiled one (C, whose
// compile error scores 0); a table entry named like a built-in changes only the keys it gives.
TEST_F(CodeRun, LanguageTable) {
  const json opts = {{"languages",
                      {{"sh", {{"file", "main.sh"}, {"run", {"/bin/sh", "main.sh"}}}},
                       {"c",
                        {{"file", "main.c"},
                         {"compile", {"gcc", "-O1", "-o", "main", "main.c"}},
                         {"run", {"./main"}},
                         {"fences", {"c", "C99"}}}},
                       {"cpp", {{"compile", "g++ -std=c++17 -O0 -o solution solution.cpp"}}}}}};
  const std::string sh = "```sh\nread a b\necho $((a + b))\n```";
  const std::string c =
      "```c99\n#include <stdio.h>\nint main(void) { long a, b; scanf(\"%ld %ld\", &a, &b); "
      "printf(\"%ld\\n\", a + b); return 0; }\n```";
  const std::vector<double> got =
      score({row(sh, {{"test_cases", kSumCases}, {"language", "sh"}}),
             row(c, {{"test_cases", kSumCases}, {"language", "C"}}),
             row("```c\nint main( {\n```", {{"test_cases", kSumCases}, {"language", "c"}}),
             row(kCppSum, {{"test_cases", kSumCases}, {"language", "cpp"}})},
            opts);
  EXPECT_EQ(got, (std::vector<double>{1.0, 1.0, 0.0, 1.0}));
  EXPECT_EQ(counter("compile_errors"), 1);
}

// Rows without tests are not applicable (NaN); malformed rows score 0, count an error and warn
// once on the console.
TEST_F(CodeRun, RowsWithoutTestsAndBadRows) {
  testing::internal::CaptureStderr();
  const std::vector<double> got =
      score({row(kAdd, {{"answer", "3"}}), row(kAdd, {{"tests", "assert add(1, 2) == 3"}}),
             row(kAdd, {{"tests", kAddTests}, {"language", "cobol"}}),
             row(kCppSum, {{"tests", kAddTests}, {"language", "cpp"}}),
             row("no code", {{"tests", kAddTests}})});
  const std::string err = testing::internal::GetCapturedStderr();
  ASSERT_EQ(got.size(), 5u);
  EXPECT_TRUE(std::isnan(got[0]));
  EXPECT_EQ(std::vector<double>(got.begin() + 1, got.end()), (std::vector<double>{0, 0, 0, 0}));
  EXPECT_EQ(reward_->errors(), 3);
  EXPECT_EQ(err,
            "warning: reward 'code': \"tests\" must be a non-empty list of Python statements "
            "(scored 0; counted in rewards/code/errors)\n");
}

// Counters: a program that loops forever is a timeout (score 0: no test ran), one that asks for
// 8 GB a memory kill; the scores of a mixed batch do not depend on the number of workers.
TEST_F(CodeRun, CountersAndPoolSize) {
  std::vector<RewardSample> batch = {
      row("```python\nwhile True:\n    pass\n```", {{"tests", kAddTests}}),
      row("```python\nx = bytearray(8 << 30)\n```", {{"tests", kAddTests}}),
      row(kAdd, {{"tests", kAddTests}}),
      row(kSub, {{"tests", kAddTests}}),
      row(kSyntax, {{"tests", kAddTests}}),
      row(kPySum, {{"test_cases", kSumCases}}),
      row(kPyDiff, {{"test_cases", kSumCases}})};
  const std::vector<double> want = {0, 0, 1, 0.25, 0, 1, 0.25};
  EXPECT_EQ(score(batch, {{"timeout_s", 1}, {"workers", 1}}), want);
  EXPECT_EQ(counter("timeouts"), 1);
  EXPECT_EQ(counter("memory_kills"), 1);
  EXPECT_EQ(counter("compile_errors"), 1);
  EXPECT_EQ(counter("sandbox_errors"), 0);
  EXPECT_EQ(reward_->errors(), 0);
  EXPECT_EQ(score(batch, {{"timeout_s", 1}, {"workers", 3}}), want);
}

// `sandbox: none` is an explicit opt-out that warns every time the reward is built.
TEST(CodeReward, SandboxNoneWarns) {
  if (std::system("python3 -c 'pass' >/dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not found";
  testing::internal::CaptureStderr();
  auto f = make_reward("code", {{"sandbox", "none"}});
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(
      err.find(
          "warning: reward 'code': sandbox: none runs model-written programs without isolation"),
      std::string::npos)
      << err;
  EXPECT_EQ(f->score({row(kAdd, {{"tests", kAddTests}})}), std::vector<double>{1.0});
}

// docs/rewards.md's `rlvr score` example: the ```jsonl block is the input, the ```console block
// the command and its exact output.
TEST_F(CodeRun, RewardsDocExampleRuns) {
  const std::string md = read_text_file(std::string(RLVR_SOURCE_DIR) + "/docs/rewards.md");
  std::smatch in, console;
  ASSERT_TRUE(std::regex_search(md, in, std::regex("```jsonl\n([\\s\\S]*?\n)```\n")));
  ASSERT_TRUE(std::regex_search(
      md, console,
      std::regex("```console\n\\$ rlvr (score[^<\n]*) < code.jsonl\n([\\s\\S]*?\n)```\n")));
  auto r = test::run_cmd(test::rlvr_bin() + " " + console[1].str(), in[1].str());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, console[2].str());
}

}  // namespace
}  // namespace rlvr
