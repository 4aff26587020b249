// The Jinja lexer with the settings transformers uses (trim_blocks, lstrip_blocks, a single
// trailing newline dropped, newlines normalised to \n): template text -> tokens with line:column.
#pragma once
#include <string>
#include <vector>

namespace rlvr::jinja {

enum class Tok { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, End };

struct Token {
  Tok type;
  std::string text;  // text, name, operator, decoded string literal, number spelling
  int line = 1, col = 1;
};

// `name` prefixes every error: "<name>:<line>:<col>: ...". Fails on text that is not UTF-8, an
// unclosed tag, string or comment, and characters no token starts with.
std::vector<Token> tokenize(const std::string& source, const std::string& name);

}  // namespace rlvr::jinja
