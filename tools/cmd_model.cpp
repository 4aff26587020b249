// Placeholder for the model command group.
#include "commands.h"

namespace rlvr::cli {
void add_model_commands(CLI::App&, CLI::App&) {}
}  // namespace rlvr::cli
