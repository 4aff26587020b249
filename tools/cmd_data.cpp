// Placeholder for the data command group; its owner fills it in.
#include "commands.h"

namespace rlvr::cli {
void add_data_commands(CLI::App&, CLI::App&) {}
}  // namespace rlvr::cli
