// Each tools/cmd_*.cpp adds its subcommands here; they are thin adapters over the library.
#pragma once
#include <CLI/CLI.hpp>

namespace rlvr::cli {

// app: the top-level `rlvr` app; bench: the `rlvr bench` group.
void add_model_commands(CLI::App& app, CLI::App& bench);      // init-model, info, generate, bench generate
void add_tokenizer_commands(CLI::App& app, CLI::App& bench);  // tokenize, init-tokenizer, bench tokenizer
void add_data_commands(CLI::App& app, CLI::App& bench);       // score, data synth, data show
void add_eval_commands(CLI::App& app, CLI::App& bench);       // eval
void add_report_commands(CLI::App& app, CLI::App& bench);     // report
void add_train_commands(CLI::App& app, CLI::App& bench);      // train, sft

}  // namespace rlvr::cli
