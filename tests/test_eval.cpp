// Tests of the torch-free evaluation harness: statistics against hand-worked values, scoring,
// results files, the HTML reports and the `rlvr report` command (the answer rules: test_answer).
// Example reports are left in $RLVR_TEST_TMP/eval_example for viewing.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>
#include <set>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/eval/report.h"
#include "rlvr/eval/stats.h"
#include "testlib.h"

using namespace rlvr;
using nlohmann::json;

namespace {

size_t count_of(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

// ---------------------------------------------------------------- stats

TEST(EvalStats, WilsonHandWorked) {
  // z = 1.959964, z^2 = 3.841459, n = 10: z^2/n = 0.3841459, denom = 1.3841459, z/denom = 1.416010.
  // 5/10: p = 0.5, center = (0.5 + 0.1920729) / 1.3841459 = 0.5,
  //       half = 1.416010 * sqrt(0.25/10 + 3.841459/400) = 1.416010 * 0.1860206 = 0.2634069.
  Interval a = wilson_interval(5, 10);
  EXPECT_NEAR(a.lo, 0.2365931, 1e-6);
  EXPECT_NEAR(a.hi, 0.7634069, 1e-6);
  // 0/10: center = 0.1920729 / 1.3841459 = 0.1387664, half = 1.416010 * sqrt(0.0096036) = 0.1387664.
  Interval b = wilson_interval(0, 10);
  EXPECT_DOUBLE_EQ(b.lo, 0.0);
  EXPECT_NEAR(b.hi, 0.2775328, 1e-6);
  // 10/10 mirrors 0/10: [1 - 0.2775328, 1].
  Interval c = wilson_interval(10, 10);
  EXPECT_NEAR(c.lo, 0.7224672, 1e-6);
  EXPECT_DOUBLE_EQ(c.hi, 1.0);
  // 1/3: p = 1/3, denom = 1 + 3.841459/3 = 2.280486, center = (0.333333 + 0.640243) / 2.280486 = 0.4269162,
  //      half = (1.959964 / 2.280486) * sqrt(0.2222222/3 + 3.841459/36) = 0.859451 * 0.4251863 = 0.3654242.
  Interval d = wilson_interval(1, 3);
  EXPECT_NEAR(d.lo, 0.0614919, 1e-6);
  EXPECT_NEAR(d.hi, 0.7923404, 1e-6);
  // No data: the whole range.
  Interval e = wilson_interval(0, 0);
  EXPECT_EQ(e.lo, 0.0);
  EXPECT_EQ(e.hi, 1.0);
  // A larger z widens the interval.
  EXPECT_LT(wilson_interval(5, 10, 2.5758).lo, a.lo);
  EXPECT_THROW(wilson_interval(11, 10), Error);
  EXPECT_THROW(wilson_interval(-1, 10), Error);
}

TEST(EvalStats, PassAtKHandWorked) {
  // n = 5, c = 2: pass@k = 1 - C(3, k) / C(5, k) = 1 - prod_{i=4..5} (1 - k/i).
  EXPECT_NEAR(pass_at_k(5, 2, 1), 0.4, 1e-12);  // 1 - (3/4)(4/5) = 1 - 0.6 = c/n
  EXPECT_NEAR(pass_at_k(5, 2, 2), 0.7, 1e-12);  // 1 - (2/4)(3/5) = 1 - 0.3 = 1 - 3/10
  EXPECT_NEAR(pass_at_k(5, 2, 3), 0.9, 1e-12);  // 1 - (1/4)(2/5) = 1 - 0.1 = 1 - 1/10
  EXPECT_EQ(pass_at_k(5, 2, 4), 1.0);           // n - c = 3 < k: every draw holds a correct one
  EXPECT_EQ(pass_at_k(5, 2, 5), 1.0);
  EXPECT_EQ(pass_at_k(5, 0, 3), 0.0);
  EXPECT_EQ(pass_at_k(5, 5, 1), 1.0);
  // n = 200, c = 10, k = 10: 1 - C(190, 10) / C(200, 10); the product form stays finite where
  // the binomials overflow a double (C(200,10) ~ 2.2e16 is fine, so compare with it directly).
  double ratio = 1.0;
  for (int i = 0; i < 10; ++i) ratio *= (190.0 - i) / (200.0 - i);
  EXPECT_NEAR(pass_at_k(200, 10, 10), 1.0 - ratio, 1e-12);
  EXPECT_THROW(pass_at_k(5, 6, 1), Error);
  EXPECT_THROW(pass_at_k(5, 2, 6), Error);
  EXPECT_THROW(pass_at_k(5, 2, 0), Error);
}

TEST(EvalStats, MajorityVote) {
  using A = std::vector<std::optional<std::string>>;
  EXPECT_TRUE(maj_at_k(A{"5", "3", "5"}, "5"));
  EXPECT_FALSE(maj_at_k(A{"3", "5", "3"}, "5"));
  // A tie goes to the answer seen first.
  EXPECT_FALSE(maj_at_k(A{"3", "5"}, "5"));
  EXPECT_TRUE(maj_at_k(A{"5", "3"}, "5"));
  // Numbers compare after normalisation: commas and differences under 1e-3 are the same answer.
  EXPECT_TRUE(maj_at_k(A{"7", "1,000", "1000.0004"}, "1000"));
  // Missing extractions never vote, so one extracted answer beats two missing ones.
  EXPECT_TRUE(maj_at_k(A{std::nullopt, std::nullopt, "7"}, "7"));
  EXPECT_FALSE(maj_at_k(A{std::nullopt, std::nullopt}, "7"));
  EXPECT_TRUE(maj_at_k(A{"7", std::nullopt, "8", "8"}, "8"));
}

TEST(EvalStats, MeanAndStd) {
  // {1, 2, 3, 4}: mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5;
  // sample std sqrt(5/3) = 1.2909944, population std sqrt(5/4) = 1.1180340.
  std::vector<double> xs = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(mean_of(xs), 2.5);
  EXPECT_NEAR(stddev_of(xs), 1.2909944, 1e-7);
  EXPECT_NEAR(stddev_of(xs, false), 1.1180340, 1e-7);
  EXPECT_EQ(stddev_of({3.0}), 0.0);
  EXPECT_EQ(mean_of({}), 0.0);
}

// ---------------------------------------------------------------- scoring

TEST(EvalScore, ProblemsToRunResult) {
  const std::string prompt = "Question: 3 and 4?\nSolution: ";
  std::vector<ProblemScore> ps;
  // K = 3 completions per problem, reference 7.
  ps.push_back(score_problem(prompt, {"x\n#### The final answer is 7", "#### 8", "#### 7"}, {10, 20, 30}, "7", "honest"));
  ps.push_back(score_problem(prompt, {"it is 7", "#### 8", "#### 8"}, {5, 5, 5}, "7", "honest"));
  ps.push_back(score_problem(prompt, {"no idea", "#### 6", "#### 7"}, {1, 1, 1}, "7", "honest"));
  ps.push_back(score_problem(prompt, {"no idea", "none", "none"}, {2, 2, 2}, "7", "honest"));
  EXPECT_TRUE(ps[0].strict_ok && ps[0].flexible_ok && ps[0].formatted && ps[0].maj_ok);
  EXPECT_EQ(ps[0].samples_correct, 2);
  EXPECT_TRUE(!ps[1].strict_ok && ps[1].flexible_ok && !ps[1].maj_ok);
  EXPECT_TRUE(!ps[2].strict_ok && !ps[2].flexible_ok && !ps[2].maj_ok);  // 6 and 7 tie; 6 came first
  EXPECT_EQ(ps[2].samples_correct, 1);
  EvalRunResult r;
  summarize_scores(ps, r);
  EXPECT_EQ(r.n, 4);
  EXPECT_EQ(r.strict_correct, 1);
  EXPECT_EQ(r.flexible_correct, 2);
  EXPECT_NEAR(r.strict_ci.lo, wilson_interval(1, 4).lo, 1e-15);
  EXPECT_NEAR(r.flexible_ci.hi, wilson_interval(2, 4).hi, 1e-15);
  EXPECT_DOUBLE_EQ(r.format_rate, 0.25);
  EXPECT_DOUBLE_EQ(r.mean_completion_tokens, (60.0 + 15 + 3 + 6) / 12.0);  // 7.0
  EXPECT_EQ(r.n_samples, 3);
  EXPECT_DOUBLE_EQ(r.pass_at_k, 0.5);  // problems 0 and 2 have a correct sample
  EXPECT_DOUBLE_EQ(r.maj_at_k, 0.25);  // only problem 0
  // Published: flexible is the last number of prompt + output, so "no idea" reads the prompt's 4.
  auto pub = score_problem(prompt, {"no idea"}, {3}, "4", "published");
  EXPECT_TRUE(pub.flexible_ok);
  EXPECT_FALSE(score_problem(prompt, {"no idea"}, {3}, "4", "honest").flexible_ok);
  EvalRunResult one;
  summarize_scores({pub}, one);
  EXPECT_TRUE(std::isnan(one.pass_at_k) && std::isnan(one.maj_at_k));  // K == 1
  EXPECT_THROW(score_problem(prompt, {"a"}, {1}, "4", "fancy"), Error);
  EXPECT_THROW(score_problem(prompt, {"a", "b"}, {1}, "4", "honest"), Error);
}

// ---------------------------------------------------------------- reports

namespace {

EvalRunResult make_run(const std::string& adapter, const std::string& protocol, int64_t shots, int64_t correct,
                       int64_t n = 1319) {
  EvalRunResult r;
  r.model = "Qwen2.5-0.5B";
  r.adapter = adapter;
  r.protocol = protocol;
  r.shots = shots;
  r.n = n;
  r.strict_correct = correct;
  r.flexible_correct = std::min(n, correct + n / 20);
  r.strict_ci = wilson_interval(r.strict_correct, n);
  r.flexible_ci = wilson_interval(r.flexible_correct, n);
  r.format_rate = 0.5 + 0.05 * static_cast<double>(shots);
  r.mean_completion_tokens = 120.0 + static_cast<double>(shots);
  r.n_samples = 1;
  r.pass_at_k = r.maj_at_k = std::nan("");
  r.seconds = 60.0 * static_cast<double>(shots + 1);
  return r;
}

// The example sweep: base and one adapter at 0/2/4/8 shots, honest, plus the published protocol
// on the base model (100 train problems, as published).
std::vector<EvalRunResult> example_runs() {
  std::vector<EvalRunResult> runs;
  const int64_t shots[] = {0, 2, 4, 8};
  const int64_t base[] = {80, 150, 330, 420}, tuned[] = {310, 420, 510, 560}, pub[] = {6, 3, 33, 11};
  for (int i = 0; i < 4; ++i) {
    runs.push_back(make_run("", "honest", shots[i], base[i]));
    runs.push_back(make_run("out/grpo-lora/adapter", "honest", shots[i], tuned[i]));
    runs.push_back(make_run("", "published", shots[i], pub[i], 100));
  }
  return runs;
}

// 200 steps of plausible GRPO metrics with deterministic noise.
std::vector<json> example_metrics() {
  std::vector<json> rows;
  uint64_t state = 12345;
  auto noise = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0 - 0.5;
  };
  for (int step = 1; step <= 200; ++step) {
    const double t = step / 200.0;
    const double correct = 0.15 + 0.5 * (1 - std::exp(-4 * t)) + 0.08 * noise();
    const double format = 0.5 * std::min(1.0, 0.3 + 1.2 * t) + 0.03 * noise();
    json row = {{"step", step},
                {"epoch", 2.0 * t},
                {"loss", 0.02 * noise()},
                {"grad_norm", 0.3 + 0.1 * noise()},
                {"learning_rate", 1.84e-4 * (step < 20 ? step / 20.0 : 0.5 * (1 + std::cos(M_PI * (step - 20) / 180.0)))},
                {"reward", correct + format},
                {"reward_std", 0.35 + 0.05 * noise()},
                {"rewards/gsm8k_correct/mean", correct},
                {"rewards/gsm8k_correct/std", 0.4},
                {"rewards/gsm8k_format/mean", format},
                {"rewards/gsm8k_format/std", 0.1},
                {"kl", 0.002 * step / 200.0 + 0.0002 * noise()},
                {"completions/mean_length", 180 - 60 * t + 10 * noise()},
                {"clip_ratio/low_mean", 0.0},
                {"clip_ratio/high_mean", 0.001 + 0.0005 * noise()},
                {"throughput/gen_tokens_per_s", 15000 + 800 * noise()},
                {"throughput/train_tokens_per_s", 42000 + 2000 * noise()}};
    if (step % 50 == 0) row["note"] = "<eval>";  // non-numeric values are ignored
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

TEST(EvalReport, JsonRoundTripAndMarkdown) {
  auto runs = example_runs();
  json j = results_json(runs);
  ASSERT_EQ(j["runs"].size(), runs.size());
  const json& r0 = j["runs"][0];
  EXPECT_EQ(r0["model"], "Qwen2.5-0.5B");
  EXPECT_EQ(r0["protocol"], "honest");
  EXPECT_NEAR(r0["strict"]["accuracy"].get<double>(), 80.0 / 1319.0, 1e-12);
  EXPECT_NEAR(r0["strict"]["ci95"][0].get<double>(), runs[0].strict_ci.lo, 1e-12);
  EXPECT_TRUE(r0["pass_at_k"].is_null());  // K == 1
  EXPECT_TRUE(j["protocols"].contains("published"));
  auto back = results_from_json(json::parse(j.dump()));
  ASSERT_EQ(back.size(), runs.size());
  EXPECT_EQ(back[4].adapter, runs[4].adapter);
  EXPECT_EQ(back[4].strict_correct, runs[4].strict_correct);
  EXPECT_DOUBLE_EQ(back[4].flexible_ci.hi, runs[4].flexible_ci.hi);
  EXPECT_TRUE(std::isnan(back[4].maj_at_k));
  json bad = j;
  bad["runs"][1].erase("shots");
  EXPECT_THROW(results_from_json(bad), Error);

  std::string md = results_markdown(runs);
  EXPECT_EQ(count_of(md, "\n| "), runs.size());  // one line per run after the header
  EXPECT_EQ(count_of(md, "| PUBLISHED |"), 4u);
  EXPECT_NE(md.find("6.1% [4.9, 7.5]"), std::string::npos);  // 80/1319 with its Wilson interval
  EXPECT_NE(md.find("**published**"), std::string::npos);
  EXPECT_EQ(md.find("pass@K"), std::string::npos);  // K == 1 everywhere: no sampling columns
}

TEST(EvalReport, EvalHtmlChartsAndEscaping) {
  auto runs = example_runs();
  runs[1].adapter = "a<b>&\"c\"";  // hostile text must be escaped
  std::string html = eval_report_html(runs);
  EXPECT_EQ(html.find("<b>&"), std::string::npos);
  EXPECT_NE(html.find("a&lt;b&gt;&amp;&quot;c&quot;"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // only the SVG namespace
  EXPECT_EQ(count_of(html, "<svg"), 2u);  // strict and flexible
  // 3 series (base honest, one adapter honest, base published) per chart; the renamed run
  // splits the adapter series into two.
  EXPECT_EQ(count_of(html, "<polyline"), 2u * 4u);
  EXPECT_EQ(count_of(html, "stroke-dasharray"), 2u * 2u);  // published: line + legend, per chart
  // Whiskers: one path per point per chart.
  EXPECT_EQ(count_of(html, "<path "), 2u * runs.size());
  // Shots as x categories and a 0% tick.
  for (const char* s : {">0<", ">2<", ">4<", ">8<", ">0%<"}) EXPECT_NE(html.find(s), std::string::npos) << s;
}

TEST(EvalReport, TrainingHtml) {
  auto rows = example_metrics();
  std::string html = training_report_html(rows, "run <1>", "<p id=\"extra\">x</p>");
  EXPECT_NE(html.find("<title>run &lt;1&gt;</title>"), std::string::npos);
  EXPECT_NE(html.find("<p id=\"extra\">x</p>"), std::string::npos);
  // 16 numeric metrics (step and note excluded), minus reward_std and two rewards/*/std drawn as bands.
  EXPECT_EQ(count_of(html, "<svg"), 13u);
  EXPECT_EQ(count_of(html, "<polygon"), 3u);  // bands: reward, two rewards/*/mean
  // Named metrics come first, in order; the rest under "Other metrics".
  size_t reward = html.find(">reward "), kl = html.find(">kl "), loss = html.find(">loss "),
         other = html.find("Other metrics"), grad = html.find(">grad_norm ");
  ASSERT_NE(other, std::string::npos);
  EXPECT_TRUE(reward < kl && kl < loss && loss < other && other < grad);
  EXPECT_NE(html.find("throughput/gen_tokens_per_s"), std::string::npos);
  EXPECT_NE(html.find(">15.0k<"), std::string::npos);  // big values get a k suffix on the axis
  EXPECT_EQ(html.find("&lt;eval&gt;"), std::string::npos);
  // A row without a step is an error.
  rows.push_back({{"loss", 1.0}});
  EXPECT_THROW(training_report_html(rows, "t"), Error);
}

// The y tick labels of the chart of `title` in a training report.
std::vector<std::string> y_ticks(const std::string& html, const std::string& title) {
  const size_t at = html.find("<title>" + title + "  (last ");
  EXPECT_NE(at, std::string::npos) << title;
  const std::string chart = html.substr(at, html.find("</svg>", at) - at);
  std::vector<std::string> out;
  const std::regex tick("class=\"tk\" text-anchor=\"end\">([^<]*)<");
  for (std::sregex_iterator it(chart.begin(), chart.end(), tick), end; it != end; ++it) out.push_back((*it)[1]);
  return out;
}

// Metrics with tiny values (time/logprob_s is ~4e-8 s) get ticks that tell values apart: SI
// prefixes instead of 0.000000 on every tick.
TEST(EvalReport, TinyValuesGetDistinctTicks) {
  std::vector<nlohmann::json> rows;
  for (int i = 1; i <= 10; ++i)
    rows.push_back({{"step", i}, {"time/logprob_s", 4e-8 + i * 2e-9}, {"tiny", 3e-5 * i}, {"flat", 0.5 + i * 1e-11}});
  const std::string html = training_report_html(rows, "t");
  for (const char* metric : {"time/logprob_s", "tiny", "flat"}) {
    const auto ticks = y_ticks(html, metric);
    ASSERT_GE(ticks.size(), 3u) << metric;
    EXPECT_EQ(std::set<std::string>(ticks.begin(), ticks.end()).size(), ticks.size())
        << metric << ": " << ::testing::PrintToString(ticks);
  }
  EXPECT_EQ(y_ticks(html, "time/logprob_s"), (std::vector<std::string>{"40n", "45n", "50n", "55n", "60n"}));
  EXPECT_EQ(y_ticks(html, "tiny")[1], "50\u00b5");
}

TEST(EvalReport, WritesExampleReports) {
  const std::string dir = test::scratch_dir("eval_example");
  write_eval_outputs(dir, example_runs());
  for (const char* f : {"results.json", "results.md", "report.html"})
    EXPECT_TRUE(file_exists(join_path(dir, f))) << f;
  EXPECT_EQ(read_json_file(join_path(dir, "results.json"))["runs"].size(), 12u);
  // A training run directory for the CLI test and for looking at by eye.
  const std::string run = test::scratch_dir("eval_example_run");
  std::string text;
  for (const auto& row : example_metrics()) text += row.dump() + "\n";
  write_text_file(join_path(run, "metrics.jsonl"), text);
  write_json_file(join_path(run, "results.json"), results_json(example_runs()));
  auto r = test::run_cmd(test::rlvr_bin() + " report " + run);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, join_path(run, "report.html") + "\n");
  std::string html = read_text_file(join_path(run, "report.html"));
  EXPECT_EQ(count_of(html, "<svg"), 13u + 2u);  // training curves + the eval charts
}

TEST(EvalReport, CliErrorsNameFileAndLine) {
  const std::string run = test::scratch_dir("eval_bad_run");
  write_text_file(join_path(run, "metrics.jsonl"), "{\"step\": 1, \"loss\": 0.5}\n\n{\"step\": 2, \"loss\": 0.4\n");
  auto r = test::run_cmd(test::rlvr_bin() + " report " + run);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("metrics.jsonl:3:24: invalid JSON"), std::string::npos) << r.err;
  EXPECT_EQ(count_of(r.err, "\n"), 1u) << r.err;  // one line
  write_text_file(join_path(run, "metrics.jsonl"), "{\"step\": 1}\n{\"loss\": 0.4}\n");
  r = test::run_cmd(test::rlvr_bin() + " report " + run);
  EXPECT_NE(r.err.find("metrics.jsonl:2: missing numeric \"step\""), std::string::npos) << r.err;
  // --out writes elsewhere and prints that path.
  write_text_file(join_path(run, "metrics.jsonl"), "{\"step\": 1, \"loss\": 0.5}\n");
  const std::string out = join_path(run, "custom.html");
  r = test::run_cmd(test::rlvr_bin() + " report " + run + " --out " + out);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, out + "\n");
  EXPECT_TRUE(file_exists(out));
  EXPECT_FALSE(file_exists(join_path(run, "report.html")));
  r = test::run_cmd(test::rlvr_bin() + " report " + join_path(run, "missing"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("not a directory"), std::string::npos) << r.err;
}

TEST(EvalReport, EdgeCases) {
  // One shot count, sampled runs (K = 4) and a very long adapter path.
  EvalRunResult r = make_run("/runs/" + std::string(150, 'x') + "/checkpoint-500/adapter-final", "honest", 8, 500);
  r.n_samples = 4;
  r.pass_at_k = 0.61;
  r.maj_at_k = 0.45;
  std::string md = results_markdown({r});
  EXPECT_NE(md.find("| K | pass@K | maj@K |"), std::string::npos);
  EXPECT_NE(md.find("| 4 | 61.0% | 45.0% |"), std::string::npos);
  std::string html = eval_report_html({r});
  EXPECT_NE(html.find("<th>pass@K</th>"), std::string::npos);
  EXPECT_EQ(count_of(html, "<svg"), 2u);
  // A single series has no legend; the table keeps the full name.
  EXPECT_EQ(count_of(html, "\xE2\x80\xA6"), 0u);
  EXPECT_NE(html.find(std::string(150, 'x') + "/<wbr>checkpoint-500/<wbr>adapter-final"), std::string::npos);
  // Two long series: the legend text is shortened with an ellipsis, the full name kept in a tooltip.
  EvalRunResult r2 = r;
  r2.adapter = std::string(150, 'y');
  html = eval_report_html({r, r2});
  EXPECT_EQ(count_of(html, "\xE2\x80\xA6"), 4u);  // two legend entries in each of two charts
  EXPECT_NE(html.find("<title>" + std::string(150, 'y')), std::string::npos);
  write_eval_outputs(test::scratch_dir("eval_example_edge"), {r, r2});  // for looking at by eye
  // No runs and no metrics still render a page.
  EXPECT_NE(eval_report_html({}).find("no data"), std::string::npos);
  EXPECT_NE(training_report_html({}, "empty").find("No numeric metrics"), std::string::npos);
  // One logged step: a chart with one point and no smoothing.
  std::string one = training_report_html({json{{"step", 5}, {"loss", 0.25}}}, "one");
  EXPECT_EQ(count_of(one, "<svg"), 1u);
  EXPECT_EQ(count_of(one, "<circle"), 1u);
  EXPECT_EQ(one.find("moving average"), std::string::npos);
}

// ---------------------------------------------------------------- judged runs (a reward decides)

// The interval of a mean of [0, 1] values is the Wilson interval of the same proportion; integer
// counts give wilson_interval exactly.
TEST(Stats, WilsonIntervalOfAMean) {
  for (int64_t c : {0, 1, 7, 20}) {
    const Interval a = wilson_interval(c, 20), b = wilson_interval_of_mean(c / 20.0, 20);
    EXPECT_EQ(a.lo, b.lo);
    EXPECT_EQ(a.hi, b.hi);
  }
  const Interval m = wilson_interval_of_mean(0.55, 40);
  EXPECT_LT(m.lo, 0.55);
  EXPECT_GT(m.hi, 0.55);
  EXPECT_GT(m.lo, wilson_interval(21, 40).lo);  // between the neighbouring counts 21 and 23
  EXPECT_LT(m.hi, wilson_interval(23, 40).hi);
  EXPECT_THROW(wilson_interval_of_mean(1.5, 4), Error);
}

// Verdicts from a judge (e.g. the code reward): pass@1 = mean of correct / K with its interval,
// pass@K with its interval, no maj@K; a separate table in results.md; the fields round-trip
// through results.json.
TEST(Report, JudgedRunsGivePassAtOneAndPassAtKWithIntervals) {
  std::vector<ProblemScore> ps = {score_verdicts({true, false, true, true}, {5, 5, 5, 5}),
                                  score_verdicts({false, false, false, true}, {1, 2, 3, 4}),
                                  score_verdicts({false, false, false, false}, {2, 2, 2, 2})};
  EXPECT_TRUE(ps[0].strict_ok && ps[0].flexible_ok && !ps[0].formatted && !ps[0].maj_ok);
  EXPECT_EQ(ps[1].samples_correct, 1);
  EXPECT_FALSE(ps[1].strict_ok);
  EvalRunResult r;
  r.judge = "code";
  summarize_scores(ps, r);
  EXPECT_DOUBLE_EQ(r.pass_at_1, (3.0 / 4 + 1.0 / 4 + 0) / 3);
  EXPECT_DOUBLE_EQ(r.pass_at_k, 2.0 / 3);
  EXPECT_TRUE(std::isnan(r.maj_at_k));
  EXPECT_EQ(r.strict_correct, 1);
  EXPECT_EQ(r.pass_at_1_ci.lo, wilson_interval_of_mean(r.pass_at_1, 3).lo);
  EXPECT_EQ(r.pass_at_k_ci.hi, wilson_interval(2, 3).hi);
  EXPECT_THROW(score_verdicts({true}, {1, 2}), Error);

  EvalRunResult gsm = make_run("", "honest", 8, 500);
  summarize_scores({score_problem("Q", {"#### 7"}, {3}, "7", "honest")}, gsm);
  EXPECT_DOUBLE_EQ(gsm.pass_at_1, 1.0);  // K = 1: the strict accuracy
  r.model = "tiny";
  const std::string md = results_markdown({gsm, r});
  EXPECT_NE(md.find("| strict acc [95% CI] |"), std::string::npos) << md;
  EXPECT_NE(md.find("| judge | model | adapter | shots | n | pass@1 [95% CI] | K | pass@K [95% CI] |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| code | tiny | base | 0 | 3 | 33.3% ["), std::string::npos) << md;
  EXPECT_NE(md.find("| 4 | 66.7% ["), std::string::npos) << md;
  EXPECT_EQ(results_markdown({make_run("", "honest", 8, 500)}).find("judge"), std::string::npos);

  const auto back = results_from_json(results_json({r}));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].judge, "code");
  EXPECT_DOUBLE_EQ(back[0].pass_at_1, r.pass_at_1);
  EXPECT_DOUBLE_EQ(back[0].pass_at_k_ci.lo, r.pass_at_k_ci.lo);
  EXPECT_DOUBLE_EQ(back[0].pass_at_1_ci.hi, r.pass_at_1_ci.hi);
}
