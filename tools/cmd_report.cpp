// `rlvr report RUN_DIR` renders a run's metrics.jsonl (and its results.json, when present) as one
// self-contained HTML page. Torch-free: it is built into the rlvr binary itself. `rlvr eval`
// needs torch and lives in tools/cmd_eval.cpp, in the torch plugin.
#include <climits>
#include <cstdlib>
#include <iostream>

#include "commands.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/eval/report.h"

namespace rlvr::cli {

namespace {

struct ReportArgs {
  std::string run_dir;
  std::string out;
};

void run_report(const ReportArgs& a) {
  RLVR_CHECK(is_directory(a.run_dir), a.run_dir, ": not a directory; pass a run directory (the output_dir of a training run)");
  const std::string metrics = join_path(a.run_dir, "metrics.jsonl");
  const std::string results = join_path(a.run_dir, "results.json");
  const bool has_metrics = file_exists(metrics), has_results = file_exists(results);
  RLVR_CHECK(has_metrics || has_results, a.run_dir, ": has neither metrics.jsonl (training) nor results.json (eval)");
  std::vector<EvalRunResult> evals;
  if (has_results) {
    try {
      evals = results_from_json(read_json_file(results));
    } catch (const Error& e) {
      fail(results, ": ", e.what());
    }
  }
  char resolved[PATH_MAX];
  const std::string title = base_name(::realpath(a.run_dir.c_str(), resolved) ? resolved : a.run_dir);
  std::string html;
  if (has_metrics) {
    std::string extra;
    if (!evals.empty()) extra = eval_report_fragment(evals);
    const std::string config = join_path(a.run_dir, "recipe.json");
    if (file_exists(config))
      extra += "<h2>Configuration</h2>\n<details><summary>recipe.json</summary><pre>" +
               html_escape(read_json_file(config).dump(2)) + "</pre></details>\n";
    html = training_report_html(read_metrics_jsonl(metrics), "rlvr training run: " + title, extra);
  } else {
    html = eval_report_html(evals);
  }
  const std::string out = a.out.empty() ? join_path(a.run_dir, "report.html") : a.out;
  write_text_file(out, html);
  std::cout << out << "\n";
}

}  // namespace

void add_report_commands(CLI::App& app, CLI::App& /*bench*/) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* report = app.add_subcommand(
      "report", "Render RUN_DIR/metrics.jsonl (training curves) and/or RUN_DIR/results.json (eval) as HTML");
  report->add_option("run_dir", args->run_dir, "Run directory")->required();
  report->add_option("--out", args->out, "Output HTML file (default RUN_DIR/report.html)");
  report->callback([args] { run_report(*args); });
}

}  // namespace rlvr::cli
