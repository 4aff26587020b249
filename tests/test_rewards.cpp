// Reward tests: a table of reward cases (gsm8k_format/gsm8k_correct per grpo-spec.md section 4,
// math_answer, exact_match, regex, length_penalty), the registry and weighted sum, external
// reward processes that crash, hang or print garbage, and the `rlvr score` command.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>

#include "rlvr/core/error.h"
#include "rlvr/rewards/reward.h"
#include "rlvr/rewards/reward_external.h"
#include "rlvr/rewards/reward_math.h"
#include "testlib.h"

namespace rlvr {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Case {
  const char* reward;
  const char* options;  // JSON
  std::string completion;
  std::string answer;
  double want;  // NaN = not applicable
  const char* why;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << c.reward << " [" << c.why << "]";
}

const std::string k9x400(400, '9');

const Case kCases[] = {
    // gsm8k_format: 0.5 iff the completion contains \n#### The final answer is \d+
    {"gsm8k_format", "{}", "Natalia sold 72 clips.\n#### The final answer is 72", "72", 0.5, "canonical"},
    {"gsm8k_format", "{}", "#### The final answer is 72", "72", 0.0, "needs the leading newline"},
    {"gsm8k_format", "{}", "x\n#### The final answer is -5", "-5", 0.0, "spec regex has no minus"},
    {"gsm8k_format", "{}", "x\n#### The final answer is 1,000", "1,000", 0.5, "\\d+ matches the 1"},
    {"gsm8k_format", "{}", "", "72", 0.0, "empty completion"},
    {"gsm8k_format", "{}", "x\n#### The final answer is x", "72", 0.0, "no digits"},
    {"gsm8k_format", "{}", "x\n#### The final answer is  72", "72", 0.0, "two spaces"},
    {"gsm8k_format", "{}", "x\n#### the final answer is 72", "72", 0.0, "case sensitive"},
    {"gsm8k_format", "{}", "x\n#### The final answer is \xD9\xA7\xD9\xA2", "72", 0.0, "Arabic-Indic digits are not \\d"},
    {"gsm8k_format", "{}", "a\n#### The final answer is 7\n\nQuestion: b", "7", 0.5, "match anywhere"},
    {"gsm8k_format", "{}", "a\r\n#### The final answer is 7", "7", 0.5, "CRLF still has \\n"},
    {"gsm8k_format", "{}", "a\n####The final answer is 7", "7", 0.0, "missing space after ####"},
    // gsm8k_correct: first ####.*?(-?[\d,]+(?:\.\d+)?), commas removed, within 1e-3
    {"gsm8k_correct", "{}", "So.\n#### The final answer is 72", "72", 1.0, "canonical"},
    {"gsm8k_correct", "{}", "#### 72", "72", 1.0, "plain GSM8K style"},
    {"gsm8k_correct", "{}", "x\n#### The final answer is -5", "-5", 1.0, "published bug 1: minus sign kept"},
    {"gsm8k_correct", "{}", "x\n#### The final answer is 5", "-5", 0.0, "sign matters"},
    {"gsm8k_correct", "{}", "x\n#### The final answer is -5", "5", 0.0, "sign matters (other way)"},
    {"gsm8k_correct", "{}", "x\n#### The final answer is 1000", "1,000", 1.0, "published bug 2: reference with commas"},
    {"gsm8k_correct", "{}", "x\n#### The final answer is 1,000", "1000", 1.0, "completion with commas"},
    {"gsm8k_correct", "{}", "#### 1,000,000", "1,000,000", 1.0, "commas both sides"},
    {"gsm8k_correct", "{}", "", "72", 0.0, "empty completion"},
    {"gsm8k_correct", "{}", "The answer is 72", "72", 0.0, "no ####"},
    {"gsm8k_correct", "{}", "#### 5\n#### 72", "72", 0.0, "several ####: the first match counts"},
    {"gsm8k_correct", "{}", "#### 72\n#### 5", "72", 1.0, "several ####: first is right"},
    {"gsm8k_correct", "{}", "#### The final answer\n#### 72", "72", 1.0, ". does not cross lines"},
    {"gsm8k_correct", "{}", "#### 72.0", "72", 1.0, "decimal equal"},
    {"gsm8k_correct", "{}", "#### 72.0004", "72", 1.0, "within 1e-3"},
    {"gsm8k_correct", "{}", "#### 72.01", "72", 0.0, "outside 1e-3"},
    {"gsm8k_correct", "{}", "#### 0.5", "0.5", 1.0, "decimal reference"},
    {"gsm8k_correct", "{}", "#### 123456789012345678901234567890", "123456789012345678901234567890", 1.0, "huge number"},
    {"gsm8k_correct", "{}", "#### 1000000000000000000000000000000", "2000000000000000000000000000000", 0.0, "huge numbers differ"},
    {"gsm8k_correct", "{}", "#### " + k9x400, k9x400, 1.0, "overflowing number equal as text"},
    {"gsm8k_correct", "{}", "#### The final answer is 72 \xF0\x9F\x8E\x89", "72", 1.0, "emoji after"},
    {"gsm8k_correct", "{}", "\xC3\x9C" "ber #### caf\xC3\xA9 72 \xE2\x9C\x93", "72", 1.0, "unicode before the number"},
    {"gsm8k_correct", "{}", "#### $1,234.50", "1234.5", 1.0, "dollar sign skipped by .*?"},
    {"gsm8k_correct", "{}", "#### , 5", "5", 0.0, "first match is a lone comma"},
    {"gsm8k_correct", "{}", "#### -", "5", 0.0, "lone minus"},
    {"gsm8k_correct", "{}", "#### 72", "", kNaN, "no reference: not applicable"},
    {"gsm8k_correct", "{}", "#### 3/4", "0.75", 0.0, "no fractions in the spec rule"},
    {"gsm8k_correct", "{}", "#### The final answer is 72\n\nQuestion: #### 5", "72", 1.0, "later questions ignored"},
    {"gsm8k_correct", "{}", "#### 072", "72", 1.0, "leading zero"},
    // math_answer: \boxed{} > first number after the last #### > last number
    {"math_answer", "{}", "So the answer is \\boxed{72}.", "72", 1.0, "boxed"},
    {"math_answer", "{}", "\\boxed{\\frac{3}{4}}", "0.75", 1.0, "boxed frac"},
    {"math_answer", "{}", "\\boxed{\\dfrac{1}{2}}", "1/2", 1.0, "dfrac vs a/b"},
    {"math_answer", "{}", "\\boxed{-\\frac{3}{4}}", "-0.75", 1.0, "negative frac"},
    {"math_answer", "{}", "The total is $1,234.", "1234", 1.0, "dollar and thousands comma"},
    {"math_answer", "{}", "It costs \\$18.00", "18", 1.0, "escaped dollar, decimals"},
    {"math_answer", "{}", "The answer is 50%", "50", 1.0, "percent equals its number"},
    {"math_answer", "{}", "The answer is 50%", "0.5", 1.0, "percent equals its fraction"},
    {"math_answer", "{}", "The answer is 0.5", "50%", 1.0, "reference percent"},
    {"math_answer", "{}", "The temperature is -7 degrees", "-7", 1.0, "negative"},
    {"math_answer", "{}", "The temperature is \xE2\x88\x92" "7 degrees", "-7", 1.0, "unicode minus"},
    {"math_answer", "{}", "She has 12 apples.", "12", 1.0, "units and trailing period"},
    {"math_answer", "{}", "x = 3.5 cm", "3.5", 1.0, "decimal with unit"},
    {"math_answer", "{}", "5 boxes with 3 each, so 15", "15", 1.0, "last number"},
    {"math_answer", "{}", "There are 15 in total. Check: 5 x 3", "15", 0.0, "last number is 3"},
    {"math_answer", "{}", "\\boxed{15}, then 3 more words 4", "15", 1.0, "boxed wins over last number"},
    {"math_answer", "{}", "#### The final answer is 1,000\nextra 7", "1000", 1.0, "#### wins over last number"},
    {"math_answer", "{}", "no numbers here", "5", 0.0, "nothing to extract"},
    {"math_answer", "{}", "", "5", 0.0, "empty completion"},
    {"math_answer", "{}", "\\boxed{x+1}", "x + 1", 1.0, "symbolic: text compare"},
    {"math_answer", "{}", "\\boxed{\\text{5 apples}}", "5", 1.0, "boxed text with unit"},
    {"math_answer", "{}", "about 0.333", "1/3", 0.0, "outside tolerance"},
    {"math_answer", "{}", "about 0.3333333", "1/3", 1.0, "inside relative tolerance"},
    {"math_answer", "{\"abs_tol\": 0.01}", "about 0.333", "1/3", 1.0, "abs_tol option"},
    {"math_answer", "{}", "answer: 1,2", "12", 0.0, "1,2 is a list, not a thousand"},
    {"math_answer", "{}", "123456789012345678901234567890", "123456789012345678901234567890", 1.0, "huge"},
    {"math_answer", "{}", "ans .5", "0.5", 1.0, "leading point"},
    {"math_answer", "{}", "\\boxed{72", "72", 1.0, "unbalanced box: last number"},
    {"math_answer", "{}", "5-3 = 2", "2", 1.0, "minus between numbers is not a sign"},
    {"math_answer", "{}", "anything 5", "", kNaN, "no reference"},
    // exact_match
    {"exact_match", "{}", "Paris", "Paris", 1.0, "equal"},
    {"exact_match", "{}", "  Paris\n", "Paris", 1.0, "trimmed"},
    {"exact_match", "{}", "paris", "Paris", 0.0, "case sensitive"},
    {"exact_match", "{\"ignore_case\": true}", "paris", "Paris", 1.0, "ignore_case"},
    {"exact_match", "{\"trim\": false}", "Paris ", "Paris", 0.0, "trim off"},
    {"exact_match", "{\"marker\": \"####\"}", "blah #### 42 ", "42", 1.0, "after marker"},
    {"exact_match", "{\"marker\": \"####\"}", "42", "42", 0.0, "marker missing"},
    {"exact_match", "{}", "", "", kNaN, "no reference"},
    // regex
    {"regex", "{\"pattern\": \"\\\\d+\"}", "abc 12", "", 1.0, "search"},
    {"regex", "{\"pattern\": \"^\\\\d+$\"}", "abc 12", "", 0.0, "anchored"},
    {"regex", "{\"pattern\": \"answer is {answer}\\\\b\"}", "the answer is 3.5", "3.5", 1.0, "{answer} placeholder"},
    {"regex", "{\"pattern\": \"answer is {answer}\\\\b\"}", "the answer is 3x5", "3.5", 0.0, "{answer} is escaped"},
    {"regex", "{\"pattern\": \"answer is {answer}\"}", "the answer is 3", "", kNaN, "{answer} without reference"},
    {"regex", "{\"pattern\": \"PARIS\", \"flags\": \"i\"}", "paris", "", 1.0, "caseless flag"},
    {"regex", "{\"pattern\": \"x\", \"match\": 0.25, \"no_match\": -0.25}", "y", "", -0.25, "custom values"},
    {"regex", "{\"pattern\": \"(a+)+$\"}", std::string(40, 'a') + "b", "", 0.0, "catastrophic pattern ends"},
    {"regex", "{\"pattern\": \"^.$\", \"flags\": \"u\"}", "\xC3\xA9", "", 1.0, "utf flag: one character"},
    {"regex", "{\"pattern\": \"^.$\"}", "\xC3\xA9", "", 0.0, "byte mode: two bytes"},
    {"regex", "{\"pattern\": \"^.$\", \"flags\": \"u\"}", "\xC3", "", 0.0, "invalid UTF-8 never matches"},
    // length_penalty (DAPO soft overlong): max 10, cache 5
    {"length_penalty", "{\"max_length\": 10, \"cache\": 5}", "12345", "", 0.0, "short"},
    {"length_penalty", "{\"max_length\": 10, \"cache\": 5}", "12345678", "", -0.6, "ramp"},
    {"length_penalty", "{\"max_length\": 10, \"cache\": 5}", "1234567890", "", -1.0, "at max"},
    {"length_penalty", "{\"max_length\": 10, \"cache\": 5}", "12345678901", "", -1.0, "beyond max"},
    {"length_penalty", "{\"max_length\": 10, \"cache\": 5}", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", "", 0.0, "chars count code points"},
    {"length_penalty", "{\"max_length\": 10, \"cache\": 5, \"unit\": \"bytes\"}", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", "", -1.0, "bytes"},
    {"length_penalty", "{\"max_length\": 4, \"cache\": 2, \"unit\": \"words\"}", "a b  c\n", "", -0.5, "words"},
};

class RewardCase : public ::testing::TestWithParam<Case> {};

TEST_P(RewardCase, Scores) {
  const Case& c = GetParam();
  auto f = make_reward(c.reward, nlohmann::json::parse(c.options));
  RewardSample s{"prompt", c.completion, c.answer};
  auto t0 = std::chrono::steady_clock::now();
  std::vector<double> r = f->score({s});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.size(), 1u);
  if (std::isnan(c.want)) {
    EXPECT_TRUE(std::isnan(r[0])) << c.why << ": got " << r[0];
  } else {
    EXPECT_NEAR(r[0], c.want, 1e-12) << c.why;
  }
  EXPECT_LT(secs, 1.0) << "scoring one sample took " << secs << " s";
}

INSTANTIATE_TEST_SUITE_P(Table, RewardCase, ::testing::ValuesIn(kCases));

TEST(Rewards, TableIsLarge) { EXPECT_GE(std::size(kCases), 60u); }

TEST(Rewards, BadReferenceIsCountedNotThrown) {
  auto f = make_reward("gsm8k_correct");
  auto r = f->score({{"", "#### 5", "five"}, {"", "#### 5", "5"}});
  EXPECT_EQ(r[0], 0.0);
  EXPECT_EQ(r[1], 1.0);
  EXPECT_EQ(f->errors(), 1);
}

TEST(Rewards, RegistryAndOptions) {
  auto names = known_rewards();
  for (const char* n : {"gsm8k_format", "gsm8k_correct", "math_answer", "exact_match", "regex",
                        "length_penalty", "external"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  try {
    make_reward("gsm8k_corect");
    FAIL() << "unknown reward accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gsm8k_correct"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_reward("exact_match", {{"ignorecase", true}}), Error);
  EXPECT_THROW(make_reward("regex", nlohmann::json::object()), Error);       // no pattern
  EXPECT_THROW(make_reward("regex", {{"pattern", "(unclosed"}}), Error);     // bad pattern
  EXPECT_THROW(make_reward("length_penalty", {{"cache", 0}}), Error);
  EXPECT_THROW(make_reward("external", nlohmann::json::object()), Error);    // no command
  // "type" picks the implementation; the given name is the display name.
  auto f = make_reward("my_digits", {{"type", "regex"}, {"pattern", "\\d"}});
  EXPECT_EQ(f->name(), "my_digits");
  EXPECT_EQ(f->score({{"", "a1", ""}})[0], 1.0);
}

TEST(Rewards, WeightedSumSkipsNaN) {
  std::vector<std::unique_ptr<RewardFunction>> fs;
  fs.push_back(make_reward("gsm8k_format"));
  fs.push_back(make_reward("gsm8k_correct"));
  std::vector<RewardSample> batch = {
      {"", "x\n#### The final answer is 72", "72"},   // 0.5 + 1
      {"", "x\n#### The final answer is 7", "72"},    // 0.5 + 0
      {"", "nothing", "72"},                          // 0 + 0
      {"", "x\n#### The final answer is 72", ""},     // 0.5 + n/a
  };
  RewardResult r = score_all(fs, {}, batch);
  ASSERT_EQ(r.per_func.size(), 2u);
  EXPECT_EQ(r.total, (std::vector<double>{1.5, 0.5, 0.0, 0.5}));
  EXPECT_TRUE(std::isnan(r.per_func[1][3]));
  r = score_all(fs, {2.0, 0.5}, batch);
  EXPECT_EQ(r.total, (std::vector<double>{1.5, 1.0, 0.0, 1.0}));
  EXPECT_THROW(score_all(fs, {1.0}, batch), Error);
  EXPECT_TRUE(score_all(fs, {}, {}).total.empty());
}

TEST(Rewards, MathScanner) {
  auto n = scan_numbers("a -1,234.5 b 3/4 c 50% d 1,2 e 5-3");
  std::vector<double> want = {-1234.5, 0.75, 50, 1, 2, 5, 3};
  ASSERT_EQ(n.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_DOUBLE_EQ(n[i].value, want[i]) << i;
  EXPECT_TRUE(n[2].percent);
  EXPECT_EQ(normalize_math_text("\\boxed{\\frac{1}{2}}"), "1/2");
  EXPECT_EQ(extract_math_answer("no digits"), std::nullopt);
}

// ---- external rewards ----

std::string write_script(const std::string& dir, const std::string& name, const std::string& body) {
  std::string path = dir + "/" + name;
  std::ofstream(path) << body;
  return path;
}

bool have_python() { return std::system("python3 -c 'pass' >/dev/null 2>&1") == 0; }

// Replies 1 when completion == answer; misbehaves on request for specific completions.
const char* kScript = R"PY(
import json, sys, time, os
for line in sys.stdin:
    req = json.loads(line)
    c = req["completion"]
    if c == "crash":
        os._exit(3)
    if c == "hang":
        time.sleep(1000)
    if c == "garbage":
        print("this is not json", flush=True); continue
    if c == "badtype":
        print(json.dumps({"reward": "high"}), flush=True); continue
    if c == "na":
        print(json.dumps({"reward": None}), flush=True); continue
    pad = "x" * int(req["answer"]) if c == "pad" else ""
    print(json.dumps({"reward": 1.0 if c == req["answer"] or pad else 0.0, "pad": pad}), flush=True)
)PY";

class External : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_python()) GTEST_SKIP() << "python3 not found";
    dir_ = test::scratch_dir("external_reward");
    script_ = write_script(dir_, "reward.py", kScript);
  }
  std::unique_ptr<RewardFunction> make(double timeout = 0.5) {
    return make_reward("judge", {{"type", "external"},
                                 {"command", {"python3", script_}},
                                 {"timeout_s", timeout}});
  }
  std::string dir_, script_;
};

TEST_F(External, ScoresAndStaysAlive) {
  auto f = make();
  auto* ext = dynamic_cast<ExternalReward*>(f.get());
  ASSERT_NE(ext, nullptr);
  pid_t pid = ext->pid();
  auto r = f->score({{"p", "7", "7"}, {"p", "8", "7"}, {"p", "na", "7"}});
  EXPECT_EQ(r[0], 1.0);
  EXPECT_EQ(r[1], 0.0);
  EXPECT_TRUE(std::isnan(r[2]));
  r = f->score({{"p", "1", "1"}});
  EXPECT_EQ(r[0], 1.0);
  EXPECT_EQ(ext->pid(), pid) << "the process should be long-lived";
  EXPECT_EQ(f->errors(), 0);
}

TEST_F(External, CrashIsZeroAndRestarts) {
  auto f = make();
  auto* ext = dynamic_cast<ExternalReward*>(f.get());
  auto r = f->score({{"", "1", "1"}, {"", "crash", "1"}, {"", "2", "2"}, {"", "3", "3"}});
  EXPECT_EQ(r, (std::vector<double>{1.0, 0.0, 1.0, 1.0}));
  EXPECT_EQ(f->errors(), 1);
  EXPECT_GE(ext->restarts(), 1);
  EXPECT_EQ(f->score({{"", "4", "4"}})[0], 1.0);  // still usable
}

TEST_F(External, HangTimesOutAndIsKilled) {
  auto f = make(0.5);
  auto* ext = dynamic_cast<ExternalReward*>(f.get());
  pid_t first = ext->pid();
  auto t0 = std::chrono::steady_clock::now();
  auto r = f->score({{"", "1", "1"}, {"", "hang", "1"}, {"", "2", "2"}});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r, (std::vector<double>{1.0, 0.0, 1.0}));
  EXPECT_EQ(f->errors(), 1);
  EXPECT_LT(secs, 3.0);
  EXPECT_NE(ext->pid(), first);
  EXPECT_EQ(kill(first, 0), -1) << "the hung process must be killed and reaped";
}

TEST_F(External, GarbageRepliesAreCounted) {
  auto f = make();
  auto r = f->score({{"", "garbage", "1"}, {"", "5", "5"}, {"", "badtype", "1"}, {"", "6", "6"}});
  EXPECT_EQ(r, (std::vector<double>{0.0, 1.0, 0.0, 1.0}));
  EXPECT_EQ(f->errors(), 2);
}

// Errors reach the console: one warning line with the reward's name, the count so far and the
// first error; further errors warn again only after warn_interval_s.
TEST_F(External, ErrorsWarnOnTheConsoleRateLimited) {
  auto warnings = [&](double interval) {
    ExternalRewardOptions o;
    o.command = {"python3", script_};
    o.warn_interval_s = interval;
    ExternalReward f("judge", o);
    testing::internal::CaptureStderr();
    f.score({{"", "garbage", "1"}, {"", "5", "5"}});
    f.score({{"", "1", "1"}});
    f.score({{"", "badtype", "1"}, {"", "garbage", "1"}});
    return testing::internal::GetCapturedStderr();
  };
  const std::string first = "warning: reward 'judge': 1 error so far (each scored 0); first: reply is not "
                            "{\"reward\": number|null}: this is not json\n";
  EXPECT_EQ(warnings(3600), first);
  EXPECT_EQ(warnings(0), first + "warning: reward 'judge': 3 errors so far (each scored 0); first: reply is not "
                                 "{\"reward\": number|null}: this is not json\n");
}

// What a reply means (docs/rewards.md, "External rewards"): null, bare or as "reward", is "not
// applicable" (NaN, no error); NaN and Infinity (what Python's json.dumps writes for them, not
// JSON), a missing "reward", an empty line and non-numbers are errors that score 0.
TEST_F(External, NullIsNotApplicableNanAndMissingAreErrors) {
  const std::string s = write_script(dir_, "replies.py", R"PY(
import json, sys
for line in sys.stdin:
    c = json.loads(line)["completion"]
    r = {"null": None, "nan": float("nan"), "inf": float("inf"), "num": 0.5}.get(c, 0.0)
    out = {"bare_null": "null", "bare_nan": "NaN", "missing": "{}", "empty": "",
           "other_key": json.dumps({"score": 1.0})}.get(c, json.dumps({"reward": r}))
    print(out, flush=True)
)PY");
  ExternalRewardOptions o;
  o.command = {"python3", s};
  ExternalReward f("judge", o);
  auto score = [](ExternalReward& r, const std::string& c) {  // (value, console warnings)
    testing::internal::CaptureStderr();
    const double v = r.score({{"", c, "1"}})[0];
    return std::make_pair(v, testing::internal::GetCapturedStderr());
  };
  for (const char* na : {"null", "bare_null"}) {
    auto [v, err] = score(f, na);
    EXPECT_TRUE(std::isnan(v)) << na;
    EXPECT_EQ(err, "") << na;
  }
  EXPECT_EQ(f.errors(), 0);
  EXPECT_EQ(score(f, "num").first, 0.5);
  const std::pair<const char*, const char*> errors[] = {
      {"nan", "reply has NaN or Infinity, which JSON does not allow; reply {\"reward\": null} for not applicable: "
              "{\"reward\": NaN}"},
      {"bare_nan", "reply has NaN or Infinity"},
      {"inf", "reply has NaN or Infinity"},
      {"missing", "reply has no \"reward\" (reply {\"reward\": null} for not applicable): {}"},
      {"other_key", "reply has no \"reward\""},
      {"empty", "reply is not {\"reward\": number|null}: "}};
  for (const auto& [c, why] : errors) {
    ExternalReward g("judge", o);  // a fresh reward: its first error is this one
    auto [v, err] = score(g, c);
    EXPECT_EQ(v, 0.0) << c;
    EXPECT_EQ(g.errors(), 1) << c;
    EXPECT_NE(err.find(std::string("first: ") + why), std::string::npos) << c << ": " << err;
  }
}

// The reply parser alone (what fuzz_external_reply fuzzes): the same rules, without a process.
TEST(ExternalReply, ParsesNumbersAndNullAndSaysWhyOtherwise) {
  double v = 0;
  std::string why;
  EXPECT_TRUE(parse_reward_reply("{\"reward\": -2.5, \"note\": \"x\"}", &v, &why));
  EXPECT_EQ(v, -2.5);
  EXPECT_TRUE(parse_reward_reply("  1 ", &v, &why));
  EXPECT_EQ(v, 1.0);
  EXPECT_TRUE(parse_reward_reply("{\"reward\": null}", &v, &why));
  EXPECT_TRUE(std::isnan(v));
  for (const char* bad : {"{\"reward\": 1e999}", "\"1\"", "[1]", "{\"reward\": true}", "NaN", ""}) {
    why.clear();
    EXPECT_FALSE(parse_reward_reply(bad, &v, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
  EXPECT_FALSE(parse_reward_reply(std::string(300, '!'), &v, &why));
  EXPECT_EQ(why, "reply is not {\"reward\": number|null}: " + std::string(120, '!'));
}

TEST_F(External, BigBatchDoesNotDeadlock) {
  // 3000 requests of 4 KB and 2 KB replies: far more than a pipe buffer in both directions.
  auto f = make(5.0);
  std::vector<RewardSample> batch(3000, {"", "pad", "2048"});
  for (auto& s : batch) s.prompt.assign(4096, 'q');
  auto r = f->score(batch);
  int64_t ones = 0;
  for (double v : r) ones += v == 1.0;
  EXPECT_EQ(ones, 3000);
  EXPECT_EQ(f->errors(), 0);
}

TEST_F(External, DeadOnArrivalNeverStopsScoring) {
  std::string s = write_script(dir_, "dies.sh", "exit 1\n");
  auto f = make_reward("dies", {{"type", "external"}, {"command", {"/bin/sh", s}},
                                {"timeout_s", 0.5}, {"max_failures", 2}});
  std::vector<double> r;
  ASSERT_NO_THROW(r = f->score(std::vector<RewardSample>(5, {"", "1", "1"})));
  EXPECT_EQ(r, std::vector<double>(5, 0.0));
  EXPECT_EQ(f->errors(), 5);
}

TEST_F(External, BadCommandIsAConfigError) {
  EXPECT_THROW(make_reward("x", {{"type", "external"}, {"command", {"/nonexistent/reward"}}}),
               Error);
}

TEST_F(External, DestructorKillsStubbornChild) {
  // Ignores EOF and SIGTERM: only SIGKILL ends it.
  std::string s = write_script(dir_, "stubborn.sh", "trap '' TERM\nwhile true; do sleep 0.05; done\n");
  pid_t pid;
  auto t0 = std::chrono::steady_clock::now();
  {
    auto f = make_reward("stubborn", {{"type", "external"}, {"command", {"/bin/sh", s}}});
    pid = dynamic_cast<ExternalReward*>(f.get())->pid();
    ASSERT_GT(pid, 0);
    EXPECT_EQ(kill(pid, 0), 0);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(kill(pid, 0), -1) << "child still exists after the destructor";
  EXPECT_LT(secs, 2.0);
}

TEST_F(External, SlowStartupGetsStartupTimeout) {
  std::string s = write_script(dir_, "slow.sh",
                               "sleep 1\nwhile read -r l; do echo '{\"reward\": 1}'; done\n");
  auto f = make_reward("slow", {{"type", "external"}, {"command", {"/bin/sh", s}},
                                {"timeout_s", 0.3}, {"startup_timeout_s", 5}});
  EXPECT_EQ(f->score({{"", "a", "b"}, {"", "c", "d"}}), (std::vector<double>{1.0, 1.0}));
  EXPECT_EQ(f->errors(), 0);
  auto g = make_reward("slow2", {{"type", "external"}, {"command", {"/bin/sh", s}},
                                 {"timeout_s", 0.3}, {"startup_timeout_s", 0.3},
                                 {"max_failures", 1}});
  EXPECT_EQ(g->score({{"", "a", "b"}, {"", "c", "d"}}), (std::vector<double>{0.0, 0.0}));
  EXPECT_EQ(g->errors(), 2);
}

TEST_F(External, ShellStringCommand) {
  auto f = make_reward("sh", {{"type", "external"},
                              {"command", "while read -r l; do echo '{\"reward\": 0.25}'; done"}});
  EXPECT_EQ(f->score({{"", "a", "b"}, {"", "c", "d"}}), (std::vector<double>{0.25, 0.25}));
}

// Each request also carries the row's fields ("fields": the whole dataset row); the older keys
// keep their meaning.
TEST_F(External, RequestsCarryTheRowFields) {
  const std::string s = write_script(dir_, "fields.py", R"PY(
import json, sys
for line in sys.stdin:
    req = json.loads(line)
    f = req["fields"]
    ok = (req["completion"] == "c" and req["answer"] == "a" and req["index"] >= 0
          and f.get("tests") == ["assert 1"] and f.get("language") == "python")
    print(json.dumps({"reward": 1.0 if ok else 0.0 if f else 0.5}), flush=True)
)PY");
  auto f = make_reward("judge", {{"type", "external"}, {"command", {"python3", s}}});
  RewardSample with{"p", "c", "a"}, without{"p", "c", "a"};
  with.fields = {{"tests", {"assert 1"}}, {"language", "python"}, {"completion", "c"}};
  EXPECT_EQ(f->score({with, without}), (std::vector<double>{1.0, 0.5}));
  EXPECT_EQ(f->errors(), 0);
}

// ---- CLI ----

TEST(ScoreCli, WritesOneLinePerInput) {
  std::string in =
      "{\"completion\": \"x\\n#### The final answer is 1,000\", \"answer\": \"1,000\"}\n"
      "{\"completion\": \"x\\n#### The final answer is -3\", \"answer\": \"-3\"}\n"
      "{\"completion\": \"\", \"answer\": \"5\"}\n";
  auto r = test::run_cmd(test::rlvr_bin() + " score --rewards gsm8k_format,gsm8k_correct --weights 1,2",
                         in);
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<nlohmann::json> lines;
  std::stringstream ss(r.out);
  for (std::string l; std::getline(ss, l);) lines.push_back(nlohmann::json::parse(l));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["rewards"]["gsm8k_format"], 0.5);
  EXPECT_EQ(lines[0]["rewards"]["gsm8k_correct"], 1.0);
  EXPECT_EQ(lines[0]["total"], 2.5);
  EXPECT_EQ(lines[1]["rewards"]["gsm8k_format"], 0.0);
  EXPECT_EQ(lines[1]["total"], 2.0);
  EXPECT_EQ(lines[2]["total"], 0.0);
  auto bad = test::run_cmd(test::rlvr_bin() + " score --rewards nope", "");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("known rewards"), std::string::npos) << bad.err;
  auto badline = test::run_cmd(test::rlvr_bin() + " score", "{\"completion\": 1}\n");
  EXPECT_NE(badline.status, 0);
  EXPECT_NE(badline.err.find("stdin:1"), std::string::npos) << badline.err;
}

// Every field of an input line reaches the rewards (here an external reward that echoes the
// number of "tests"), and counters other than zero go to stderr like errors.
TEST(ScoreCli, EveryFieldReachesTheRewards) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  const std::string dir = test::scratch_dir("score_fields");
  const std::string s = write_script(dir, "count.py", R"PY(
import json, sys
for line in sys.stdin:
    f = json.loads(line)["fields"]
    print(json.dumps({"reward": len(f["tests"]) if "tests" in f else "none"}), flush=True)
)PY");
  const std::string opts =
      "'{\"n\": {\"type\": \"external\", \"command\": [\"python3\", \"" + s + "\"]}}'";
  auto r = test::run_cmd(test::rlvr_bin() + " score --rewards n --options " + opts,
                         "{\"completion\": \"x\", \"tests\": [\"a\", \"b\"], \"id\": 7}\n"
                         "{\"completion\": \"y\"}\n");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out,
            "{\"rewards\":{\"n\":2.0},\"total\":2.0}\n{\"rewards\":{\"n\":0.0},\"total\":0.0}\n");
  EXPECT_EQ(r.err.find("warning: reward 'n': 1 error so far"), 0u) << r.err;
  EXPECT_NE(r.err.find("rlvr score: rewards/n/errors = 1\n"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace rlvr
