// Each tools/cmd_*.cpp adds its subcommands here; they are thin adapters over the library.
// Two halves (docs/architecture.md): the torch-free groups are linked into the rlvr binary; the
// torch groups are built into librlvr_torchcli.so, which main() loads only when it needs them.
#pragma once
#include <CLI/CLI.hpp>

namespace rlvr::cli {

// app: the top-level `rlvr` app; bench: the `rlvr bench` group.
// Torch-free, in the rlvr binary:
void add_tokenizer_commands(CLI::App& app, CLI::App& bench);  // tokenize, init-tokenizer, bench tokenizer
void add_data_commands(CLI::App& app, CLI::App& bench);       // score, data synth, data show
void add_report_commands(CLI::App& app, CLI::App& bench);     // report
void add_sandbox_commands(CLI::App& bench);                   // bench sandbox
void add_template_commands(CLI::App& app, CLI::App& bench);   // template (and its --bench)
// Torch, in librlvr_torchcli.so (see tools/torch_plugin.cpp):
void add_model_commands(CLI::App& app, CLI::App& bench);      // init-model, info, generate, merge, bench generate
void add_eval_commands(CLI::App& app, CLI::App& bench);       // eval
void add_train_commands(CLI::App& app, CLI::App& bench);      // train, sft
void add_recipe_commands(CLI::App& app, CLI::App& bench);     // recipe-keys
void add_demo_commands(CLI::App& app, CLI::App& bench);       // demo
void add_quantize_commands(CLI::App& app);                    // quantize

}  // namespace rlvr::cli

// The torch plugin's C entry points, looked up by name with dlsym (tools/plugin_loader.cpp).
extern "C" {
// Adds every torch command group to `app` and `bench`.
void rlvr_add_torch_commands(CLI::App* app, CLI::App* bench);
// A one-line message for a torch exception (c10::Error without its backtrace), or nullptr when
// `e` is not one. The string lives as long as `e`.
const char* rlvr_torch_error_message(const std::exception* e);
}
