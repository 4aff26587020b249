// Did-you-mean hints for unknown names (recipe keys, CLI commands and flags).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace rlvr {

// Levenshtein distance.
size_t edit_distance(const std::string& a, const std::string& b);
// The candidate closest to `name` by edit_distance when it is close enough to be a likely typo
// (at most max(2, name.size() / 3) edits, and fewer than name has characters); "" when none is.
std::string closest_name(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace rlvr
