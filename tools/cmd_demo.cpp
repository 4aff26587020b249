// `rlvr demo`: the embedded default job (see src/rlvr/apps/demo.h). Prints a short summary
// whose last line is JSON.
#include <cstdio>

#include "commands.h"
#include "rlvr/apps/demo.h"
#include "rlvr/dist/comm.h"

namespace rlvr::cli {

void add_demo_commands(CLI::App& app, CLI::App&) {
  auto o = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand("demo", "Show RLVR working on a laptop CPU: synthetic problems, a tiny "
                                         "model, SFT warm start, GRPO, held-out evaluation before/after");
  cmd->add_option("--out", o->out_dir, "output directory (data, models, metrics, report.html)");
  cmd->add_option("--seed", o->seed, "seed for data, model and training");
  cmd->add_option("--sft-steps", o->sft_steps, "SFT warm-start steps");
  cmd->add_option("--grpo-steps", o->grpo_steps, "GRPO steps");
  cmd->add_option("--sft-lr", o->sft_lr, "SFT learning rate");
  cmd->add_option("--grpo-lr", o->grpo_lr, "GRPO learning rate (constant after warmup)");
  cmd->add_option("--grpo-warmup-steps", o->grpo_warmup_steps, "GRPO linear warmup steps");
  cmd->add_option("--grpo-prompts", o->grpo_prompts, "GRPO prompts per step");
  cmd->add_option("--num-generations", o->num_generations, "GRPO completions per prompt");
  cmd->add_option("--num-iterations", o->num_iterations, "GRPO optimizer steps per generation batch");
  cmd->add_option("--train-problems", o->train_problems, "synthetic train problems");
  cmd->add_option("--test-problems", o->test_problems, "held-out test problems");
  cmd->add_option("--min-steps", o->min_steps, "fewest arithmetic steps per problem");
  cmd->add_option("--max-steps", o->max_steps, "most arithmetic steps per problem");
  cmd->add_option("--max-number", o->max_number, "largest number in a question");
  cmd->callback([o] {
    dist::ConnectOptions c;  // a data-parallel demo (--nproc-per-node): CPU, Gloo
    c.backend = dist::Backend::kGloo;
    dist::join(c);
    auto s = run_demo(*o);
    if (!dist::world().is_main()) return;
    auto pct = [&](const char* when, const char* how) {
      const auto& r = s[when][how];
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.1f%% [%.1f, %.1f]", 100 * r["accuracy"].get<double>(),
                    100 * r["ci95"][0].get<double>(), 100 * r["ci95"][1].get<double>());
      return std::string(buf);
    };
    std::printf("held-out strict accuracy      sampled (T=1)          greedy\n");
    std::printf("  after SFT (before GRPO)     %-22s %s\n", pct("before", "sampled").c_str(), pct("before", "greedy").c_str());
    std::printf("  after GRPO                  %-22s %s\n", pct("after", "sampled").c_str(), pct("after", "greedy").c_str());
    const auto& ph = s["phase_seconds"];
    std::printf("time: SFT %.0f s, evaluation %.0f s, GRPO %.0f s\n", ph["sft"].get<double>(),
                ph["eval_before"].get<double>() + ph["eval_after"].get<double>(), ph["grpo"].get<double>());
    std::printf("report: %s/report.html (%.0f s)\n", o->out_dir.c_str(), s["seconds"].get<double>());
    std::printf("%s\n", s.dump().c_str());
  });
}

}  // namespace rlvr::cli
