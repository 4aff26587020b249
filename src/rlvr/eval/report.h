// Evaluation and training reports: per-problem scoring into run results, results.json,
// results.md, and self-contained HTML pages with hand-written SVG charts (no scripts, no
// network). Torch-free: the evaluator produces the texts, this file only scores and renders.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlvr/eval/stats.h"

namespace rlvr {

// One evaluated configuration: a model (+ adapter) at one shot count under one protocol.
struct EvalRunResult {
  std::string model;                  // model name or path
  std::string adapter;                // adapter name or path; empty = base model
  std::string protocol = "honest";    // "honest" (grpo-spec section 6) or "published" (section 1)
  int64_t shots = 0;                  // solved examples in the prompt
  int64_t n = 0;                      // problems evaluated
  int64_t strict_correct = 0;         // problems right under extract_strict
  int64_t flexible_correct = 0;       // right under extract_flexible (published: extract_published)
  Interval strict_ci, flexible_ci;    // 95% Wilson intervals of the two accuracies
  double format_rate = 0.0;           // fraction of first completions with has_answer_format
  double mean_completion_tokens = 0;  // mean over all completions
  int64_t n_samples = 1;              // K completions per problem
  double pass_at_k = 0.0;             // pass@K (strict rule), NaN when K == 1
  double maj_at_k = 0.0;              // maj@K (strict extraction), NaN when K == 1 or judged
  double pass_at_1 = 0.0;             // unbiased pass@1 over the K samples: mean of correct / K
  Interval pass_at_1_ci, pass_at_k_ci;  // wilson_interval_of_mean over the problems (pass@K: K > 1)
  // The rewards that decided correctness instead of the answer rules (e.g. "code"), comma-
  // separated; empty = the GSM8K answer rules. Judged runs: strict = flexible = the first
  // completion's verdict, no answer format, no maj@K.
  std::string judge;
  double seconds = 0.0;               // wall time of the run
};

// The verdicts for one problem, from score_problem.
struct ProblemScore {
  bool strict_ok = false;      // first completion, strict rule
  bool flexible_ok = false;    // first completion, last number (published: of prompt+output)
  bool formatted = false;      // first completion has the answer format
  int64_t tokens = 0;          // completion tokens summed over the K completions
  int64_t n_samples = 0;       // K
  int64_t samples_correct = 0; // completions right under the strict rule
  bool maj_ok = false;         // majority vote of strict answers is right
};

// Scores the K completions of one problem against `reference` (a GSM8K final answer).
// `protocol` "published" scores flexible as the last number of prompt + completion.
// completion_tokens: one count per completion (same length as completions).
ProblemScore score_problem(const std::string& prompt, const std::vector<std::string>& completions,
                           const std::vector<int64_t>& completion_tokens, const std::string& reference,
                           const std::string& protocol);

// Scores K completions whose correctness a judge (a reward) decided: strict and flexible = the
// first completion's verdict, samples_correct = the correct count; formatted and maj_ok false.
ProblemScore score_verdicts(const std::vector<bool>& correct, const std::vector<int64_t>& completion_tokens);

// Fills the score fields of `run` (n, counts, intervals, rates, pass@K, maj@K) from its problems;
// the caller sets model, adapter, protocol, shots, judge and seconds (judge first: a judged run has
// no maj@K). All problems must share one K.
void summarize_scores(const std::vector<ProblemScore>& problems, EvalRunResult& run);

// {"runs": [{"model", "adapter", "protocol", "shots", "n", "strict": {"correct", "accuracy",
// "ci95": [lo, hi]}, "flexible": {...}, "format_rate", "mean_completion_tokens", "n_samples",
// "pass_at_k", "maj_at_k", "pass_at_1", "pass_at_1_ci95", "pass_at_k_ci95", "judge", "seconds"}],
// "protocols": {name: description}}; NaN is null.
nlohmann::json results_json(const std::vector<EvalRunResult>& runs);
// Inverse of results_json (for `rlvr report` and merging runs); errors name the bad field.
std::vector<EvalRunResult> results_from_json(const nlohmann::json& j);
// A Markdown table, one row per run, with a note defining each protocol present; judged runs
// in a second table (pass@1 and pass@K with their intervals).
std::string results_markdown(const std::vector<EvalRunResult>& runs);
// A whole HTML page: accuracy vs shots (strict and flexible), one line per
// (model, adapter, protocol) with 95% interval whiskers, then the results table.
std::string eval_report_html(const std::vector<EvalRunResult>& runs);
// The charts and table of eval_report_html without the page around them (to embed elsewhere).
std::string eval_report_fragment(const std::vector<EvalRunResult>& runs);
// Writes results.json, results.md and report.html into out_dir (created when missing).
void write_eval_outputs(const std::string& out_dir, const std::vector<EvalRunResult>& runs);

// A whole HTML page of training curves from metrics.jsonl rows (objects with "step"): reward,
// each rewards/<name>/mean (with a +-std band when logged), kl, completions/mean_length,
// clip_ratio/*, loss, throughput/*, then any other numeric metric; one chart per metric
// present, x = step. extra_html is inserted verbatim after the charts.
std::string training_report_html(const std::vector<nlohmann::json>& metrics_rows, const std::string& title,
                                 const std::string& extra_html = "");
// Reads metrics.jsonl: every non-empty line must be a JSON object with a numeric "step";
// otherwise one rlvr::Error naming the file and line.
std::vector<nlohmann::json> read_metrics_jsonl(const std::string& path);

// Escapes & < > " ' for HTML text and attributes.
std::string html_escape(const std::string& text);

}  // namespace rlvr
