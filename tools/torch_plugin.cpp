// Entry points of librlvr_torchcli.so, the half of the CLI that needs libtorch: registers the torch
// command groups and turns c10::Error into one line. Loaded by tools/plugin_loader.cpp; no main.
#include <c10/util/Exception.h>

#include "commands.h"
#include "rlvr/model/cpu_allocator.h"

extern "C" __attribute__((visibility("default"))) void rlvr_add_torch_commands(CLI::App* app,
                                                                              CLI::App* bench) {
  // Before any tensor exists: large CPU blocks are reused instead of re-faulted from the OS.
  rlvr::install_caching_cpu_allocator_from_env();
  rlvr::cli::add_model_commands(*app, *bench);
  rlvr::cli::add_eval_commands(*app, *bench);
  rlvr::cli::add_train_commands(*app, *bench);
  rlvr::cli::add_recipe_commands(*app, *bench);
  rlvr::cli::add_demo_commands(*app, *bench);
  rlvr::cli::add_quantize_commands(*app);
}

extern "C" __attribute__((visibility("default"))) const char* rlvr_torch_error_message(
    const std::exception* e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(e);
  return c10 ? c10->what_without_backtrace() : nullptr;
}
