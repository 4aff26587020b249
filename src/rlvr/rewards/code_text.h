// The text rules of the `code` reward, pure functions of strings (fuzz/fuzz_code_extract.cpp):
// which part of a completion is the program, and when a program's stdout equals the expected
// output. docs/rewards.md ("The program") states the rules.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rlvr {

// The program in a completion: the content of the last fenced code block (a line of three or
// more backticks, up to three spaces indented, closed by a line of at least as many backticks, or
// by the end of the text) whose info string's first word is one of `tags` (ASCII case ignored)
// or is empty (a bare fence). Blocks in other languages are skipped. When no block qualifies:
// with require_fence false and no fence line at all, the whole completion; else nullopt.
// An empty or all-whitespace program is nullopt.
std::optional<std::string> extract_program(std::string_view completion,
                                           const std::vector<std::string>& tags,
                                           bool require_fence);

// stdout against the expected output, line by line after removing trailing whitespace (spaces,
// tabs, \r) from each line; trailing empty lines do not count.
bool outputs_match(std::string_view got, std::string_view want);

}  // namespace rlvr
