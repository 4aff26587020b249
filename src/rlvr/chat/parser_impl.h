// The parser's class, shared by its two files: statements (parser.cpp) and expressions
// (parse_expr.cpp). Internal to the chat module.
#pragma once
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "rlvr/chat/ast.h"
#include "rlvr/chat/lexer.h"
#include "rlvr/core/error.h"

namespace rlvr::jinja::detail {

constexpr int kMaxDepth = 100;  // nested expressions or blocks

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::string& name) : t_(std::move(tokens)), name_(name) {}
  Body run() {
    Body body = parse_body({});
    return body;
  }

 private:
  // Tokens.
  const Token& cur() const { return t_[pos_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(pos_ + k, t_.size() - 1)]; }
  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Tok::Name && cur().text == n; }
  bool skip_op(const char* op) { return is_op(op) ? (++pos_, true) : false; }
  bool skip_name(const char* n) { return is_name(n) ? (++pos_, true) : false; }
  [[noreturn]] void error(const Token& at, const std::string& msg) const {
    fail(name_, ":", at.line, ":", at.col, ": ", msg);
  }
  std::string describe(const Token& t) const;
  void expect_op(const char* op);
  std::string expect_name();
  void expect_block_end();
  struct Depth {
    Parser& p;
    Depth(Parser& parser, const Token& at) : p(parser) {
      if (++p.depth_ > kMaxDepth) p.error(at, "the template is nested too deeply");
    }
    ~Depth() { --p.depth_; }
  };

  // Statements.
  Body parse_body(std::initializer_list<const char*> ends);
  bool at_end_tag(std::initializer_list<const char*> ends) const;
  std::unique_ptr<Stmt> parse_statement();
  std::unique_ptr<Stmt> make(StmtKind kind, const Token& at) const;
  std::unique_ptr<Stmt> parse_for(const Token& at);
  std::unique_ptr<Stmt> parse_if(const Token& at);
  std::unique_ptr<Stmt> parse_set(const Token& at);
  std::unique_ptr<Stmt> parse_macro(const Token& at);
  std::unique_ptr<Stmt> parse_call_block(const Token& at);
  std::unique_ptr<Stmt> parse_filter_block(const Token& at);
  std::unique_ptr<Stmt> parse_with(const Token& at);
  std::unique_ptr<Stmt> parse_scope(const Token& at);
  void parse_targets(Stmt& s);
  void parse_params(Stmt& s);
  Body body_until(const char* end);

  // Expressions.
  ExprPtr node(ExprKind kind, const Token& at) const;
  ExprPtr parse_tuple(bool with_cond, bool explicit_parens = false);
  ExprPtr parse_expression(bool with_cond = true);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter = true);
  ExprPtr parse_primary();
  ExprPtr parse_literal_name(const Token& at);
  ExprPtr parse_list_or_dict(const Token& at);
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_subscript(ExprPtr e);
  ExprPtr parse_filter_expr(ExprPtr e);
  ExprPtr parse_filter(ExprPtr e, bool start_inline);
  ExprPtr parse_test(ExprPtr e);
  void parse_call_args(Expr& call);
  bool tuple_end() const;

  std::vector<Token> t_;
  const std::string& name_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loops_ = 0;  // enclosing for loops, for break / continue
};

}  // namespace rlvr::jinja::detail
