// main(): builds the `rlvr` command line from the tools/cmd_*.cpp groups and turns every
// failure into one clear line on stderr and a non-zero exit: 2 for a usage error (usage_error.h),
// 1 for the rest. The binary itself is torch-free; the torch commands come from
// librlvr_torchcli.so, loaded only when argv needs them.
#include <cstdio>
#include <string>

#include "commands.h"
#include "launcher.h"
#include "plugin_loader.h"
#include "usage_error.h"

namespace {

// One write: the lines of ranks sharing a terminal or pipe do not interleave.
int print_error(const std::string& message, int status) {
  const std::string line = "rlvr: error: " + message + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rlvr: GRPO fine-tuning with verifiable rewards, in one C++ binary on libtorch"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "rlvr 0.1.0");
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks (tokenizer, sandbox, generate)");
  bench->require_subcommand(1);
  rlvr::cli::add_tokenizer_commands(app, *bench);
  rlvr::cli::add_data_commands(app, *bench);
  rlvr::cli::add_report_commands(app, *bench);
  rlvr::cli::add_sandbox_commands(*bench);
  rlvr::cli::add_template_commands(app, *bench);
  rlvr::cli::TorchPlugin torch;
  try {
    if (rlvr::cli::needs_torch_commands(argc, argv, app, *bench))
      torch = rlvr::cli::load_torch_commands(app, *bench);
    rlvr::cli::add_launcher_option(app, argc, argv);  // --nproc-per-node on train, sft, eval
    rlvr::cli::finish_options(app);
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version: on stdout, status 0
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {  // quietly with its status: an interrupted `rlvr train` or
    return e.get_exit_code();              // `sft` (130, 143), the launcher (its workers' status)
  } catch (const CLI::ParseError& e) {
    return print_error(rlvr::cli::usage_error(app, e), 2);
  } catch (const std::exception& e) {  // rlvr::Error, c10::Error (via the plugin), the rest
    const char* msg = torch.error_message ? torch.error_message(&e) : nullptr;
    return print_error(msg ? msg : e.what(), 1);
  }
  return 0;
}
