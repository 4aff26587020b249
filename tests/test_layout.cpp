// Layout rules checked on the source tree: no function under src/ is longer than 80 lines.
// A small C++ brace scanner (comments, string, char and raw-string literals skipped) finds every
// function body at namespace or class scope; a function's length runs from the first line of its
// signature (a `template <...>` line included) to its closing brace. Every run prints the 10
// longest functions; RLVR_LAYOUT_TOP=N prints the N longest instead (for notes). Torch-free.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr int kMaxFunctionLines = 80;

struct Function {
  std::string file;
  int line = 0;  // first line of the signature
  std::string name;
  int lines = 0;  // signature to closing brace, inclusive
};

// Source text with comments, literals and preprocessor lines blanked out (newlines kept, so
// positions map to the same lines): what is left is code the brace scanner can trust.
class CodeOnly {
 public:
  explicit CodeOnly(const std::string& text) : in_(text), out_(text) {}
  std::string run() {
    while (i_ < in_.size()) step();
    return out_;
  }

 private:
  void blank(size_t from, size_t to) {
    for (size_t k = from; k < to && k < out_.size(); ++k)
      if (out_[k] != '\n') out_[k] = ' ';
  }
  bool at(const char* s) const { return in_.compare(i_, std::char_traits<char>::length(s), s) == 0; }
  bool line_start() const {
    for (size_t k = i_; k-- > 0;) {
      if (in_[k] == '\n') return true;
      if (!std::isspace(static_cast<unsigned char>(in_[k]))) return false;
    }
    return true;
  }
  void skip_to(size_t end) {
    blank(i_, end);
    i_ = end;
  }
  void step() {
    const char c = in_[i_];
    if (at("//")) return skip_to(std::min(in_.find('\n', i_), in_.size()));
    if (at("/*")) return skip_to(std::min(in_.find("*/", i_ + 2) + 2, in_.size()));
    if (c == '#' && line_start()) return skip_to(preprocessor_end());
    if (c == '"' || c == '\'') return skip_to(quoted_end(i_, c));
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') return word();
    if (std::isdigit(static_cast<unsigned char>(c))) return number();
    ++i_;
  }
  size_t preprocessor_end() const {  // the line, with backslash continuations
    size_t e = i_;
    while ((e = in_.find('\n', e)) != std::string::npos && in_[e - 1] == '\\') ++e;
    return e == std::string::npos ? in_.size() : e;
  }
  size_t quoted_end(size_t from, char q) const {
    size_t k = from + 1;
    while (k < in_.size() && in_[k] != q) k += in_[k] == '\\' ? 2 : 1;
    return std::min(k + 1, in_.size());
  }
  // An identifier; a string prefix (u8, L, R, u8R, ...) joins the literal after it.
  void word() {
    size_t e = i_;
    while (e < in_.size() && (std::isalnum(static_cast<unsigned char>(in_[e])) || in_[e] == '_')) ++e;
    const std::string w = in_.substr(i_, e - i_);
    const bool prefix = w == "u8" || w == "u" || w == "U" || w == "L";
    const bool raw = w == "R" || w == "u8R" || w == "uR" || w == "UR" || w == "LR";
    if (e < in_.size() && in_[e] == '"' && raw) return skip_to(raw_end(e));
    if (e < in_.size() && (in_[e] == '"' || in_[e] == '\'') && prefix)
      return skip_to(quoted_end(e, in_[e]));
    i_ = e;
  }
  size_t raw_end(size_t quote) const {  // R"delim( ... )delim"
    const size_t open = in_.find('(', quote);
    const std::string close = ")" + in_.substr(quote + 1, open - quote - 1) + "\"";
    const size_t e = in_.find(close, open);
    return e == std::string::npos ? in_.size() : e + close.size();
  }
  // A pp-number, so the digit separators of 1'000 do not open a char literal.
  void number() {
    while (i_ < in_.size()) {
      const char c = in_[i_];
      const bool exp_sign = (c == '+' || c == '-') && std::strchr("eEpP", in_[i_ - 1]);
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '\'' &&
          !exp_sign)
        break;
      ++i_;
    }
  }

  const std::string& in_;
  std::string out_;
  size_t i_ = 0;
};

bool has_word(const std::string& text, const std::string& w) {
  for (size_t at = text.find(w); at != std::string::npos; at = text.find(w, at + 1)) {
    const bool left = at == 0 || !(std::isalnum(static_cast<unsigned char>(text[at - 1])) ||
                                   text[at - 1] == '_');
    const size_t r = at + w.size();
    const bool right = r >= text.size() ||
                       !(std::isalnum(static_cast<unsigned char>(text[r])) || text[r] == '_');
    if (left && right) return true;
  }
  return false;
}

// The declaration text without a leading `template <...>` header (whose `class` is no class).
std::string without_template_header(std::string decl) {
  size_t s = decl.find_first_not_of(" \t\n");
  while (s != std::string::npos && decl.compare(s, 8, "template") == 0) {
    size_t k = decl.find('<', s);
    if (k == std::string::npos) break;
    int depth = 0;
    for (; k < decl.size(); ++k) {
      depth += decl[k] == '<' ? 1 : decl[k] == '>' ? -1 : 0;
      if (depth == 0) break;
    }
    decl = decl.substr(std::min(k + 1, decl.size()));
    s = decl.find_first_not_of(" \t\n");
  }
  return decl;
}

// The name before the parameter list: "Engine::run_wave", "operator()", "~Policy".
std::string function_name(const std::string& decl) {
  size_t op = decl.find("operator");
  if (op != std::string::npos) {
    size_t paren = decl.find('(', op + 8);
    if (paren == op + 8 && decl.compare(op + 8, 2, "()") == 0) paren = decl.find('(', op + 10);
    std::string name = decl.substr(op, paren - op);
    name.erase(std::remove_if(name.begin(), name.end(), ::isspace), name.end());
    return name;
  }
  size_t e = decl.find('(');
  while (e > 0 && std::isspace(static_cast<unsigned char>(decl[e - 1]))) --e;
  if (e > 0 && decl[e - 1] == '>') {  // enum_names<DType>()
    for (int depth = 0; e-- > 0;) {
      depth += decl[e] == '>' ? 1 : decl[e] == '<' ? -1 : 0;
      if (depth == 0) break;
    }
  }
  size_t b = e;
  while (b > 0 && (std::isalnum(static_cast<unsigned char>(decl[b - 1])) ||
                   std::strchr("_:~", decl[b - 1])))
    --b;
  return b == e ? "(lambda)" : decl.substr(b, e - b);
}

// What a `{` at namespace or class scope opens, judged by the declaration text before it.
enum class Block { kScope, kData, kFunction, kMemberInit };

Block classify(const std::string& decl) {
  const std::string d = without_template_header(decl);
  const size_t last = d.find_last_not_of(" \t\n");
  const char before = last == std::string::npos ? ' ' : d[last];
  // Keywords count after the last `)`: `MACRO(x) struct T {` opens a struct.
  const size_t paren = d.rfind(')');
  const std::string tail = paren == std::string::npos ? d : d.substr(paren);
  for (const char* kw : {"namespace", "class", "struct", "union", "extern"})
    if (has_word(tail, kw)) return Block::kScope;
  if (has_word(tail, "enum") || before == '=' || paren == std::string::npos) return Block::kData;
  // A constructor's initialiser list: `a_{x}` is a member's brace init, `) {` the body.
  const size_t colon = d.find(':', d.find(')'));
  const bool init_list = colon != std::string::npos && d.compare(colon, 2, "::") != 0 &&
                         d[colon - 1] != ':';
  if (init_list && (std::isalnum(static_cast<unsigned char>(before)) || before == '_' ||
                    before == '>'))
    return Block::kMemberInit;
  return Block::kFunction;
}

class Scanner {
 public:
  Scanner(std::string file, const std::string& text) : file_(std::move(file)), code_(CodeOnly(text).run()) {}
  std::vector<Function> run() {
    scope(0);
    return found_;
  }

 private:
  int line_at(size_t pos) const {
    return 1 + static_cast<int>(std::count(code_.begin(), code_.begin() + pos, '\n'));
  }
  size_t block_end(size_t open) const {  // the position after the `}` matching code_[open]
    int depth = 0;
    for (size_t k = open; k < code_.size(); ++k) {
      depth += code_[k] == '{' ? 1 : code_[k] == '}' ? -1 : 0;
      if (depth == 0) return k + 1;
    }
    return code_.size();
  }
  // The declaration being read at namespace or class scope: its text and where it starts.
  struct Decl {
    std::string text;
    size_t start = std::string::npos;
    int parens = 0;  // a `{` inside parentheses is an argument: `re_("x", {})`
    void add(const std::string& s, size_t pos) {
      if (start == std::string::npos && s.find_first_not_of(" \t\n") != std::string::npos)
        start = pos;
      text += s;
    }
    void reset() { *this = Decl(); }
  };
  // Scans a namespace or class body from `pos` to its closing brace; returns the position after.
  size_t scope(size_t pos) {
    Decl d;
    for (; pos < code_.size(); ++pos) {
      const char c = code_[pos];
      d.parens += c == '(' ? 1 : c == ')' ? -1 : 0;
      if (c == '}') return pos + 1;
      if (c == ';' || (c == ':' && is_access_label(d.text))) {
        d.reset();
      } else if (c != '{') {
        d.add(std::string(1, c), pos);
      } else if (d.parens > 0) {
        pos = block_end(pos) - 1;
        d.text += "{}";
      } else {
        const Block kind = classify(d.text);
        pos = open_block(pos, kind, d) - 1;
        if (kind == Block::kData || kind == Block::kMemberInit)
          d.text += "{}";  // the declaration goes on: `T x{1};`, `a_{x}, b_(y) {`
        else
          d.reset();
      }
    }
    return pos;
  }
  static bool is_access_label(const std::string& decl) {
    std::string d = decl;
    d.erase(std::remove_if(d.begin(), d.end(), ::isspace), d.end());
    return d == "public" || d == "private" || d == "protected";
  }
  // Handles the block opening at `open`; returns the position after its closing brace.
  size_t open_block(size_t open, Block kind, const Decl& d) {
    switch (kind) {
      case Block::kScope:
        return scope(open + 1);
      case Block::kData:
      case Block::kMemberInit:
        return block_end(open);
      case Block::kFunction:
        break;
    }
    const size_t end = block_end(open);
    const size_t start = d.start == std::string::npos ? open : d.start;
    Function f{file_, line_at(start), function_name(without_template_header(d.text)), 0};
    f.lines = line_at(end - 1) - f.line + 1;
    found_.push_back(f);
    return end;
  }

  std::string file_;
  std::string code_;
  std::vector<Function> found_;
};

std::vector<Function> scan(const std::string& file, const std::string& text) {
  return Scanner(file, text).run();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Every function in src/, longest first (ties by file and line).
std::vector<Function> source_functions() {
  namespace fs = std::filesystem;
  const std::string root = RLVR_SOURCE_DIR;
  std::vector<Function> all;
  for (const auto& e : fs::recursive_directory_iterator(root + "/src")) {
    const std::string ext = e.path().extension().string();
    if (!e.is_regular_file() || (ext != ".cpp" && ext != ".h")) continue;
    const std::string rel = fs::relative(e.path(), root).string();
    for (auto& f : scan(rel, read_file(e.path().string()))) all.push_back(f);
  }
  std::sort(all.begin(), all.end(), [](const Function& a, const Function& b) {
    if (a.lines != b.lines) return a.lines > b.lines;
    return a.file != b.file ? a.file < b.file : a.line < b.line;
  });
  return all;
}

std::string describe(const Function& f) {
  return f.file + ":" + std::to_string(f.line) + " " + f.name + " " + std::to_string(f.lines);
}

const Function* find(const std::vector<Function>& fs, const std::string& name) {
  for (const auto& f : fs)
    if (f.name == name) return &f;
  return nullptr;
}

TEST(LayoutScanner, CountsFromSignatureToClosingBrace) {
  const auto fs = scan("x.cpp",
                       "namespace a {\n"        // 1
                       "template <class T>\n"   // 2
                       "int f(T x)\n"           // 3
                       "{\n"                    // 4
                       "  return x;\n"          // 5
                       "}\n"                    // 6
                       "}  // namespace a\n");  // 7
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].name, "f");
  EXPECT_EQ(fs[0].line, 2);
  EXPECT_EQ(fs[0].lines, 5);
}

TEST(LayoutScanner, SkipsCommentsAndLiterals) {
  const auto fs = scan("x.cpp",
                       "// void fake() {\n"
                       "/* int g() { */\n"
                       "const char* s = \"}{\";\n"
                       "char c = '{', d = '\\'';\n"
                       "const char* r = R\"x(} { )\" })x\";\n"
                       "int n = 1'000;\n"
                       "#define M(x) { x }\n"
                       "int h() {\n"
                       "  return '}';\n"
                       "}\n");
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].name, "h");
  EXPECT_EQ(fs[0].line, 8);
  EXPECT_EQ(fs[0].lines, 3);
}

TEST(LayoutScanner, ClassesDataInitialisersAndConstructors) {
  const auto fs = scan("x.h",
                       "struct S : Base {\n"
                       " public:\n"
                       "  S(int x) : a_(x), b_{x} {\n"
                       "    run();\n"
                       "  }\n"
                       "  int get() const { return a_; }\n"
                       "  bool operator()(int y) const { return y; }\n"
                       "  int a_, b_;\n"
                       "  std::vector<int> v = {1, 2};\n"
                       "  std::vector<int> w{3};\n"
                       "};\n"
                       "enum class E { kA, kB };\n"
                       "extern \"C\" {\n"
                       "void S::run() { }\n"
                       "}\n"
                       "T::T() : re_(\"x\", {}) {}\n"
                       "MAKE_KERNELS(avx2)\n"
                       "struct Table { int n = 0; };\n"
                       "template <>\n"
                       "const V& names<E>() {\n"
                       "  return v;\n"
                       "}\n");
  ASSERT_EQ(fs.size(), 6u);
  EXPECT_EQ(find(fs, "S")->line, 3);
  EXPECT_EQ(find(fs, "S")->lines, 3);
  EXPECT_EQ(find(fs, "get")->lines, 1);
  EXPECT_EQ(find(fs, "operator()")->line, 7);
  EXPECT_EQ(find(fs, "S::run")->line, 14);
  EXPECT_EQ(find(fs, "T::T")->lines, 1);
  EXPECT_EQ(find(fs, "names")->line, 19);
  EXPECT_EQ(find(fs, "names")->lines, 4);
}

TEST(Layout, NoFunctionOver80Lines) {
  const auto all = source_functions();
  ASSERT_GT(all.size(), 100u) << "scanned too few functions under " << RLVR_SOURCE_DIR << "/src";
  const char* top_env = std::getenv("RLVR_LAYOUT_TOP");
  const size_t top = top_env ? std::strtoul(top_env, nullptr, 10) : 10;
  std::cout << "The " << top << " longest functions under src/ (file:line name lines):\n";
  for (size_t i = 0; i < top && i < all.size(); ++i) std::cout << "  " << describe(all[i]) << "\n";
  std::string too_long;
  for (const auto& f : all)
    if (f.lines > kMaxFunctionLines) too_long += "\n  " + describe(f);
  EXPECT_TRUE(too_long.empty()) << "functions longer than " << kMaxFunctionLines
                                << " lines (split them into named helpers):" << too_long;
}

}  // namespace
