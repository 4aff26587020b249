// The evaluation command group that needs torch: `rlvr eval` (added with the evaluator). Built
// into the torch plugin; the torch-free `rlvr report` lives in tools/cmd_report.cpp.
#include "commands.h"

namespace rlvr::cli {

void add_eval_commands(CLI::App& /*app*/, CLI::App& /*bench*/) {}

}  // namespace rlvr::cli
