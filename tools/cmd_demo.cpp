// `rlvr demo`: the embedded default job (see src/rlvr/train/demo.h). Prints a short summary
// whose last line is JSON.
#include <cstdio>

#include "commands.h"
#include "rlvr/train/demo.h"

namespace rlvr::cli {

void add_demo_commands(CLI::App& app, CLI::App&) {
  auto o = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand("demo", "Show RLVR working on a laptop CPU: synthetic problems, a tiny "
                                         "model, SFT warm start, GRPO, held-out evaluation before/after");
  cmd->add_option("--out", o->out_dir, "output directory (data, models, metrics, report.html)")->capture_default_str();
  cmd->add_option("--seed", o->seed, "seed for data, model and training")->capture_default_str();
  cmd->add_option("--sft-steps", o->sft_steps, "SFT warm-start steps")->capture_default_str();
  cmd->add_option("--grpo-steps", o->grpo_steps, "GRPO steps")->capture_default_str();
  cmd->add_option("--sft-lr", o->sft_lr, "SFT learning rate")->capture_default_str();
  cmd->add_option("--grpo-lr", o->grpo_lr, "GRPO learning rate")->capture_default_str();
  cmd->add_option("--train-problems", o->train_problems, "synthetic train problems")->capture_default_str();
  cmd->add_option("--test-problems", o->test_problems, "held-out test problems")->capture_default_str();
  cmd->callback([o] {
    auto s = run_demo(*o);
    auto pct = [&](const char* when, const char* how) {
      const auto& r = s[when][how];
      return std::to_string(100 * r["accuracy"].get<double>()).substr(0, 4) + "% [" +
             std::to_string(100 * r["ci95"][0].get<double>()).substr(0, 4) + ", " +
             std::to_string(100 * r["ci95"][1].get<double>()).substr(0, 4) + "]";
    };
    std::printf("held-out strict accuracy      sampled (T=1)          greedy\n");
    std::printf("  after SFT (before GRPO)     %-22s %s\n", pct("before", "sampled").c_str(), pct("before", "greedy").c_str());
    std::printf("  after GRPO                  %-22s %s\n", pct("after", "sampled").c_str(), pct("after", "greedy").c_str());
    std::printf("report: %s/report.html (%.0f s)\n", o->out_dir.c_str(), s["seconds"].get<double>());
    std::printf("%s\n", s.dump().c_str());
  });
}

}  // namespace rlvr::cli
