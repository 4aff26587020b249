// Tokens -> syntax tree, with jinja2's grammar and operator precedence. Unknown tags, filters and
// tests fail here, before any rendering, naming the template and line:column.
#pragma once
#include <string>
#include <vector>

#include "rlvr/chat/ast.h"
#include "rlvr/chat/lexer.h"

namespace rlvr::jinja {

Body parse(std::vector<Token> tokens, const std::string& name);

// The filter and test names the renderer knows (filters.cpp, tests.cpp).
bool has_filter(const std::string& name);
bool has_test(const std::string& name);

}  // namespace rlvr::jinja
