// Tests of the torch-free answer rules (rlvr/answer/answer.h) that the gsm8k rewards and the
// evaluator share: extraction (strict, flexible, published), the format check, answer
// comparison, and agreement of the rewards with the rules.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "rlvr/answer/answer.h"
#include "rlvr/rewards/reward.h"
#include "rlvr/rewards/reward_regex.h"
#include "testlib.h"

using namespace rlvr;

TEST(Answer, StrictRule) {
  EXPECT_EQ(extract_strict("3 + 4 = 7.\n#### The final answer is 7"), "7");
  EXPECT_EQ(extract_strict("#### The final answer is -1,000.5 dollars"), "-1000.5");
  EXPECT_EQ(extract_strict("#### 18."), "18");          // a trailing period is not a decimal part
  EXPECT_EQ(extract_strict("#### 5 #### 6"), "5");      // first match wins
  EXPECT_EQ(extract_strict("#### none\n#### 9"), "9");  // `.` stops at the newline: next marker
  EXPECT_EQ(extract_strict("####\n5"), std::nullopt);
  EXPECT_EQ(extract_strict("The answer is 42"), std::nullopt);
  EXPECT_EQ(extract_strict("### 42"), std::nullopt);
  // The regex's first match is the bare comma here, which is no number.
  EXPECT_EQ(extract_strict("#### The final answer is, 5"), std::nullopt);
  EXPECT_EQ(extract_strict("#### x-3"), "-3");
}

TEST(Answer, FlexibleLastNumber) {
  EXPECT_EQ(extract_flexible("She pays $1,234.50 for 3 items, total 7"), "7");
  EXPECT_EQ(extract_flexible("costs $1,000."), "1000");
  EXPECT_EQ(extract_flexible("between 5, 6"), "6");
  EXPECT_EQ(extract_flexible("so x = -5"), "-5");
  EXPECT_EQ(extract_flexible("pages 3-5"), "5");
  EXPECT_EQ(extract_flexible("a 2.75 kg bag"), "2.75");
  EXPECT_EQ(extract_flexible("no digits here"), std::nullopt);
  EXPECT_EQ(extract_flexible("#### The final answer is 7"), "7");
}

TEST(Answer, PublishedDiffersFromStrict) {
  const std::string prompt = "Question: Tom has 3 apples and buys 4 more. How many now?\nSolution: ";
  // No #### and no number in the output: strict and flexible find nothing, the published rule
  // reads the prompt's last number.
  const std::string out1 = "He has seven apples in total.";
  EXPECT_EQ(extract_strict(out1), std::nullopt);
  EXPECT_EQ(extract_flexible(out1), std::nullopt);
  EXPECT_EQ(extract_published(prompt + out1), "4");
  // A #### answer followed by more numbers (no stop sequence): strict keeps 7, published
  // takes the hallucinated next question's number.
  const std::string out2 = "3 + 4 = 7.\n#### The final answer is 7\n\nQuestion: A farm has 12 cows";
  EXPECT_EQ(extract_strict(out2), "7");
  EXPECT_EQ(extract_published(prompt + out2), "12");
  // The right answer after ####, then a wrong trailing number: strict right, published wrong.
  const std::string out3 = "#### 7 (checked in 2 steps)";
  EXPECT_TRUE(answers_match(*extract_strict(out3), "7"));
  EXPECT_FALSE(answers_match(*extract_published(prompt + out3), "7"));
}

TEST(Answer, FormatAndMatch) {
  EXPECT_TRUE(has_answer_format("x\n#### The final answer is 7"));
  EXPECT_FALSE(has_answer_format("#### The final answer is 7"));       // needs the newline
  EXPECT_FALSE(has_answer_format("x\n#### The final answer is -7"));   // \d+ right after the space
  EXPECT_FALSE(has_answer_format("x\n#### The final answer is seven"));
  EXPECT_TRUE(answers_match("1,000", "1000"));
  EXPECT_TRUE(answers_match("0.3333", "0.333"));  // |diff| = 3.3e-4 <= 1e-3
  EXPECT_FALSE(answers_match("0.335", "0.333"));  // 2e-3
  EXPECT_FALSE(answers_match("-5", "5"));
  EXPECT_TRUE(answers_match(" $18 ", "18.0"));
  EXPECT_FALSE(answers_match("", ""));
  EXPECT_FALSE(answers_match("12a", "12"));
  EXPECT_EQ(parse_answer_number("-1,234.5"), -1234.5);
  EXPECT_EQ(parse_answer_number("1.2.3"), std::nullopt);
}

TEST(Answer, MatchKeepsNumbersTooLargeForADouble) {
  const std::string nines(400, '9');
  EXPECT_TRUE(answers_match(nines, nines));
  EXPECT_TRUE(answers_match("1," + nines, "1" + nines));
  EXPECT_FALSE(answers_match(nines, "8" + nines.substr(1)));
  EXPECT_EQ(normalize_answer(" 1,000 \n"), "1000");
}

// The gsm8k rewards score with the answer rules, so they agree with the evaluator's verdicts
// on every completion, including references with a sign or '$' and numbers past a double.
TEST(Answer, Gsm8kRewardsAgreeWithTheRules) {
  const std::string nines(400, '9');
  const std::vector<std::string> completions = {
      "x\n#### The final answer is 72", "#### 5\n#### 72", "#### , 5", "#### -5", "#### $1,234.50",
      "####\n5", "#### " + nines, "no answer 72", "x\n#### The final answer is -7", "#### 72.0004"};
  const std::vector<std::string> refs = {"72", "-5", "$5", "+5", "1,234.5", "5.", nines, "five"};
  auto fmt = make_reward("gsm8k_format"), cor = make_reward("gsm8k_correct");
  for (const auto& c : completions) {
    EXPECT_EQ(fmt->score({{"", c, "72"}})[0], has_answer_format(c) ? 0.5 : 0.0) << c;
    for (const auto& r : refs) {
      auto got = extract_strict(c);
      EXPECT_EQ(cor->score({{"", c, r}})[0], got && answers_match(*got, r) ? 1.0 : 0.0) << c << " | " << r;
    }
  }
  EXPECT_EQ(cor->score({{"", "#### 5", "$5"}})[0], 1.0);  // the evaluator's reference grammar
}

// The scanners are the spec's regexes (grpo-spec section 4) run by PCRE2: the same strict capture
// and format verdict on every GSM8K answer (train and test) and on random strings built from the
// characters the rules care about.
TEST(Answer, ScannersEqualTheSpecRegexes) {
  using reward_detail::RewardRegex;
  std::vector<std::string> texts;
  for (const char* split : {"/gsm8k/train.jsonl", "/gsm8k/test.jsonl"}) {
    std::ifstream in(test::shared_data() + split);
    std::string line;
    while (std::getline(in, line)) texts.push_back(nlohmann::json::parse(line).at("answer"));
  }
  ASSERT_GT(texts.size(), 8000u);
  std::mt19937 rng(1);
  const std::vector<std::string> parts = {"####", "\n#### The final answer is ", "-", ",", ".", "5", "1,000",
                                          " ", "\n", "\r", "#", "$", "a", "\xC3\xA9", "\xD9\xA7"};
  for (int n = 0; n < 30000; ++n) {
    std::string s;
    for (int i = static_cast<int>(rng() % 16); i > 0; --i) s += parts[rng() % parts.size()];
    texts.push_back(s);
  }
  RewardRegex strict("####.*?(-?[\\d,]+(?:\\.\\d+)?)", {}), format("\\n#### The final answer is \\d+", {});
  for (const auto& t : texts) {
    RewardRegex::Groups g;
    std::optional<std::string> want;
    if (strict.search(t, 0, &g) == RewardRegex::Result::kMatch) {
      std::string cap = t.substr(g[1].first, g[1].second - g[1].first);
      cap = normalize_answer(cap);
      if (cap.find_first_of("0123456789") != std::string::npos) want = cap;
    }
    ASSERT_EQ(extract_strict(t), want) << t;
    ASSERT_EQ(has_answer_format(t), format.search(t, 0, nullptr) == RewardRegex::Result::kMatch) << t;
  }
}
