// Small byte-string helpers shared by the data module (trim, replace, split).
// ASCII whitespace only; UTF-8 passes through untouched.
#pragma once
#include <string>
#include <vector>

namespace rlvr::data {

std::string trim(const std::string& s);  // strips ASCII space, \t, \n, \r, \f, \v at both ends
// Replaces every non-overlapping occurrence, scanning left to right (Python's str.replace).
std::string replace_all(const std::string& s, const std::string& from, const std::string& to);
// Splits on every occurrence of `sep`; "" gives {""} (Python's str.split(sep)).
std::vector<std::string> split(const std::string& s, const std::string& sep);

}  // namespace rlvr::data
