// Placeholder for the tokenizer command group; its owner fills it in.
#include "commands.h"

namespace rlvr::cli {
void add_tokenizer_commands(CLI::App&, CLI::App&) {}
}  // namespace rlvr::cli
