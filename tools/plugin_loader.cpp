// On-demand loading of librlvr_torchcli.so (see plugin_loader.h and docs/architecture.md).
#include "plugin_loader.h"

#include <dlfcn.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "commands.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr::cli {

namespace {

constexpr const char* kPluginFile = "librlvr_torchcli.so";

bool has_subcommand(const CLI::App& app, const std::string& name) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (sub->get_name() == name) return true;
  return false;
}

}  // namespace

bool needs_torch_commands(int argc, const char* const* argv, const CLI::App& app, const CLI::App& bench) {
  if (argc <= 1) return true;  // bare `rlvr`: the error shows the full help hint
  std::vector<std::string> words;  // the first two non-option words: command [subcommand]
  bool help = false;
  for (int i = 1; i < argc && words.size() < 2; ++i) {
    const std::string a = argv[i];
    if (a == "--") break;
    if (!a.empty() && a[0] == '-') {
      help = help || a == "-h" || a == "--help";
      continue;
    }
    words.push_back(a);
  }
  if (words.empty()) return help;  // `rlvr --help` lists every command; `rlvr --version` does not
  if (words[0] != bench.get_name()) return !has_subcommand(app, words[0]);
  if (words.size() == 1) return true;  // `rlvr bench [--help]` lists every benchmark
  return !has_subcommand(bench, words[1]);
}

std::string torch_plugin_path() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  RLVR_CHECK(n > 0, "/proc/self/exe: cannot resolve the rlvr binary's path (", std::strerror(errno),
             "); the torch commands are loaded from ", kPluginFile, " beside it");
  return join_path(parent_dir(std::string(buf, static_cast<size_t>(n))), kPluginFile);
}

TorchPlugin load_torch_commands(CLI::App& app, CLI::App& bench) {
  const std::string path = torch_plugin_path();
  // Never closed: the registered callbacks live in the plugin.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  const char* err = handle ? nullptr : dlerror();
  RLVR_CHECK(handle, "cannot load the torch commands from ", path, ": ", err,
             " (it is built with the rlvr binary and must sit beside it; rebuild both)");
  auto add = reinterpret_cast<void (*)(CLI::App*, CLI::App*)>(dlsym(handle, "rlvr_add_torch_commands"));
  TorchPlugin p;
  p.error_message =
      reinterpret_cast<const char* (*)(const std::exception*)>(dlsym(handle, "rlvr_torch_error_message"));
  RLVR_CHECK(add && p.error_message, path,
             ": not an rlvr torch plugin (missing rlvr_add_torch_commands or rlvr_torch_error_message); "
             "rebuild it with the rlvr binary");
  add(&app, &bench);
  return p;
}

}  // namespace rlvr::cli
