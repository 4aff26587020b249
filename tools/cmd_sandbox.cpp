// `rlvr bench sandbox`: runs per second of a trivial Python program with one assert through the
// sandbox pool, in bubblewrap and without isolation, in the same command (issue 17's goal).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/sandbox/sandbox.h"

namespace rlvr::cli {
namespace {

struct BenchOptions {
  int runs = 200;   // programs per round
  int rounds = 5;   // the median round is reported
  int workers = 0;  // 0: the number of cores
};

std::vector<sandbox::Job> trivial_jobs(int n) {
  sandbox::Job job;
  job.files.push_back(
      sandbox::File{"prog.py", "def add(a, b):\n    return a + b\n\nassert add(1, 2) == 3\n"});
  sandbox::Step step;
  step.argv = {"python3", "prog.py"};
  job.steps.push_back(step);
  return std::vector<sandbox::Job>(size_t(n), job);
}

// Runs per second of one round; every run must pass.
double round_rate(const sandbox::Pool& pool, const std::vector<sandbox::Job>& jobs) {
  const Stopwatch clock;
  const auto results = pool.run_all(jobs);
  const double s = clock.seconds();
  for (const auto& r : results) {
    const sandbox::Outcome& o = r.at(0);
    RLVR_CHECK(o.ok(), "bench sandbox: a ", sandbox::isolation_name(pool.isolation()),
               " run failed (exit ", o.exit_code, ", signal ", o.signal, "): ",
               o.sandbox_error ? o.error : o.err.substr(0, 300));
  }
  return double(jobs.size()) / s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

void run_bench(const BenchOptions& o) {
  RLVR_CHECK(o.runs >= 1 && o.rounds >= 1, "bench sandbox: --runs and --rounds must be >= 1");
  const std::string why = sandbox::bwrap_unavailable_reason();
  RLVR_CHECK(why.empty(), "bench sandbox: ", why);
  const sandbox::Pool boxed(o.workers, sandbox::Isolation::kBwrap);
  const sandbox::Pool bare(o.workers, sandbox::Isolation::kNone);
  const std::vector<sandbox::Job> jobs = trivial_jobs(o.runs);
  std::vector<double> boxed_rates, bare_rates;
  for (int r = 0; r < o.rounds; ++r) {  // alternating, so both see the same machine load
    boxed_rates.push_back(round_rate(boxed, jobs));
    bare_rates.push_back(round_rate(bare, jobs));
    std::printf("round %d: bwrap %.1f runs/s, none %.1f runs/s\n", r + 1, boxed_rates.back(),
                bare_rates.back());
  }
  const double b = median(boxed_rates), n = median(bare_rates);
  std::printf("sandbox (bwrap): %.1f runs/s\nno sandbox:      %.1f runs/s\noverhead:        %.2fx\n",
              b, n, n / b);
  const nlohmann::json j = {{"bwrap_runs_per_s", b}, {"none_runs_per_s", n}, {"overhead", n / b},
                            {"workers", boxed.workers()}, {"runs", o.runs}, {"rounds", o.rounds}};
  std::printf("%s\n", j.dump().c_str());
}

}  // namespace

void add_sandbox_commands(CLI::App& bench) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* b = bench.add_subcommand(
      "sandbox", "Runs/s of a trivial Python program with one assert, sandboxed (bwrap) and "
                 "without a sandbox, on the pool; the median round and the overhead");
  b->add_option("--runs", o->runs, "programs per round (default 200)");
  b->add_option("--rounds", o->rounds, "rounds of each; the median is reported (default 5)");
  b->add_option("--workers", o->workers, "pool size (default 0: the number of cores)");
  b->callback([o] { run_bench(*o); });
}

}  // namespace rlvr::cli
