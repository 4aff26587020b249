// `rlvr bench generate`: placeholder until the benchmark lands.
#include "cli_common.h"

namespace rlvr::cli {
void add_bench_generate(CLI::App&) {}
}  // namespace rlvr::cli
