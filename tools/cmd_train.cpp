// Training commands: `rlvr train RECIPE.yaml` (GRPO) and `rlvr sft RECIPE.yaml`, with --set
// overrides and --resume; as one rank of a data-parallel job when launched as one
// (docs/distributed.md). Prints the resolved configuration, then runs the trainer in the run
// loop; an interrupted run exits with 128 + the signal (130 SIGINT, 143 SIGTERM) once its
// checkpoint is written.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "rlvr/core/interrupt.h"
#include "rlvr/dist/comm.h"
#include "rlvr/train/grpo_trainer.h"
#include "rlvr/train/sft_trainer.h"

namespace rlvr::cli {

namespace {

struct TrainOpts {
  std::string recipe;
  std::vector<std::string> sets;
  bool resume = false;
};

void add_common(CLI::App* cmd, TrainOpts& o) {
  cmd->add_option("recipe", o.recipe, "YAML recipe (flat, TRL key names; see docs/recipe.md)")
      ->required();
  cmd->add_option("--set", o.sets, "override a recipe key: --set key=value (repeatable)");
  cmd->add_flag("--resume", o.resume, "continue from the newest output_dir/checkpoint-<step>");
}

// Joins the data-parallel job the environment describes (torchrun, Slurm, --nproc-per-node), if
// any, with the recipe's ddp_backend and ddp_timeout; then prints the notices and the resolved
// recipe (rank 0 only).
void join_job(const TrainRecipeBase& r, const std::vector<std::string>& notices,
              const std::vector<std::pair<std::string, std::string>>& table) {
  dist::ConnectOptions c;
  c.backend = dist::parse_backend(r.ddp_backend);
  c.cuda = r.device == DeviceKind::kCuda || (r.device == DeviceKind::kAuto && torch::cuda::is_available());
  c.timeout = std::chrono::seconds(r.ddp_timeout);
  dist::join(c);
  if (!dist::world().is_main()) return;
  for (const auto& n : notices) std::fprintf(stderr, "notice: %s\n", n.c_str());
  std::fprintf(stderr, "%s", format_recipe_table(table).c_str());
  if (!dist::world().single())
    std::fprintf(stderr, "data parallel: %d processes (%s)\n", dist::world().world(),
                 dist::world().backend_name().c_str());
}

// The canonical recipe keys the --set options name (an alias counts as its key).
std::vector<std::string> set_keys(const std::vector<std::string>& sets, const std::vector<RecipeKeyInfo>& keys) {
  std::vector<std::string> out;
  for (const auto& s : sets) {
    std::string k = s.substr(0, s.find('='));
    k.erase(k.find_last_not_of(" \t") + 1);
    k.erase(0, k.find_first_not_of(" \t"));
    for (const auto& info : keys)
      if (info.key == k || std::find(info.aliases.begin(), info.aliases.end(), k) != info.aliases.end())
        out.push_back(info.key);
  }
  return out;
}

// Runs a trainer (GrpoTrainer or SftTrainer) under the CLI's options; prints the result line and
// turns an interrupt into the exit status.
template <class Trainer, class Recipe>
void run(Trainer& trainer, const Recipe& r, const TrainOpts& o, const std::string& command) {
  RunOptions run = trainer.run_options();
  run.resume = o.resume;
  run.set_keys = set_keys(o.sets, recipe_keys(r));
  run.command = "rlvr " + command + " " + o.recipe;
  const bool main = dist::world().is_main();
  if (main) std::fprintf(stderr, "training %lld steps -> %s\n", (long long)trainer.total_steps(), r.output_dir.c_str());
  auto res = run_training(trainer, run);
  if (main)
    std::printf("%s\n", nlohmann::json({{"output_dir", res.output_dir},
                                        {"steps", res.steps_done},
                                        {"interrupted", res.interrupted}})
                            .dump()
                            .c_str());
  std::fflush(stdout);
  if (res.interrupted) throw CLI::RuntimeError(interrupt_exit_code());
}

}  // namespace

void add_train_commands(CLI::App& app, CLI::App&) {
  auto o = std::make_shared<TrainOpts>();
  auto* train = app.add_subcommand("train", "GRPO training with verifiable rewards (LoRA or full)");
  add_common(train, *o);
  train->callback([o] {
    std::vector<std::string> notices;
    GrpoRecipe r = load_grpo_recipe(o->recipe, o->sets, dist::read_dist_env().world, &notices);
    join_job(r, notices, recipe_table(r));
    install_interrupt_handler();
    GrpoTrainer trainer(r);
    run(trainer, r, *o, "train");
  });
  auto s = std::make_shared<TrainOpts>();
  auto* sft = app.add_subcommand("sft", "Supervised fine-tuning on solved problems or prompt/completion JSONL");
  add_common(sft, *s);
  sft->callback([s] {
    std::vector<std::string> notices;
    SftRecipe r = load_sft_recipe(s->recipe, s->sets, dist::read_dist_env().world, &notices);
    join_job(r, notices, recipe_table(r));
    install_interrupt_handler();
    SftTrainer trainer(r);
    run(trainer, r, *s, "sft");
  });
}

}  // namespace rlvr::cli
