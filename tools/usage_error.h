// Usage errors in rlvr's form (tools/rlvr.cpp): CLI11's parse errors become one line that names
// the command and the flag and says what to do, with a did-you-mean for unknown names; --help
// shows every option's default; unsigned options refuse negative values.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace rlvr::cli {

// The message for a usage error of the parse of `app` that threw `e` (any CLI::ParseError but
// CLI::Success and CLI::RuntimeError), without the "rlvr: error: " prefix. Unknown commands and
// flags come first (they explain the missing options that CLI11 reports before them), then
// values of the wrong type or missing, missing commands and required options, then CLI11's own
// text.
std::string usage_error(const CLI::App& app, const CLI::ParseError& e);

// Makes each option of `app` and of the commands below it show its default in --help
// (`--seed UINT=42`: the value its variable holds now) and, when it is unsigned (UINT), refuse a
// negative value as a usage error instead of wrapping it round. Call it once every command is
// added.
void finish_options(CLI::App& app);

}  // namespace rlvr::cli
