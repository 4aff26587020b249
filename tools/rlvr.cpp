// main(): builds the `rlvr` command line from the tools/cmd_*.cpp groups and turns every
// failure into one clear line on stderr and a non-zero exit.
#include <c10/util/Exception.h>

#include <iostream>

#include "commands.h"
#include "rlvr/core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"rlvr: GRPO fine-tuning with verifiable rewards, in one C++ binary on libtorch"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "rlvr 0.1.0");
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks (tokenizer, generate)");
  bench->require_subcommand(1);
  rlvr::cli::add_model_commands(app, *bench);
  rlvr::cli::add_tokenizer_commands(app, *bench);
  rlvr::cli::add_data_commands(app, *bench);
  rlvr::cli::add_eval_commands(app, *bench);
  rlvr::cli::add_report_commands(app, *bench);
  rlvr::cli::add_train_commands(app, *bench);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const rlvr::Error& e) {
    std::cerr << "rlvr: error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "rlvr: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "rlvr: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
