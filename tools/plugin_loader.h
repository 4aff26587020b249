// Loading the torch half of the CLI (librlvr_torchcli.so, next to the rlvr binary) on demand:
// decides from argv whether a command needs it, loads it and registers its commands.
// Torch-free: knows the plugin only through the two C entry points in commands.h.
#pragma once
#include <CLI/CLI.hpp>
#include <exception>
#include <string>

namespace rlvr::cli {

// The loaded plugin's error translator; a null pointer when the plugin is not loaded.
struct TorchPlugin {
  const char* (*error_message)(const std::exception*) = nullptr;
};

// True when argv names a command that `app` (or `bench`) does not hold yet, i.e. a torch one,
// or asks for the help that lists every command: `rlvr`, `rlvr --help`, `rlvr bench [--help]`.
bool needs_torch_commands(int argc, const char* const* argv, const CLI::App& app, const CLI::App& bench);
// <directory of /proc/self/exe>/librlvr_torchcli.so
std::string torch_plugin_path();
// dlopen()s the plugin and adds its commands to `app` and `bench`; rlvr::Error naming the file
// when it is missing or broken.
TorchPlugin load_torch_commands(CLI::App& app, CLI::App& bench);

}  // namespace rlvr::cli
