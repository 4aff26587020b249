// Expressions, by jinja2's precedence (lowest first): `x if c else y`, or, and, not, comparisons
// and `in`, + -, ~, * / // %, **, unary - +, then a primary with its postfixes (.attr, [index],
// [a:b:c], (call)) and its filters and tests (`| f`, `is t`), which bind tighter than any
// binary operator: `'a' + b | trim` trims b only.
#include <cerrno>
#include <cstdlib>

#include "rlvr/chat/parser.h"
#include "rlvr/chat/parser_impl.h"

namespace rlvr::jinja::detail {

ExprPtr Parser::node(ExprKind kind, const Token& at) const {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = at.line;
  e->col = at.col;
  return e;
}

bool Parser::tuple_end() const {
  return cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || is_op(")") || cur().type == Tok::End;
}

ExprPtr Parser::parse_tuple(bool with_cond, bool explicit_parens) {
  const Token at = cur();
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) expect_op(",");
    if (tuple_end()) break;
    items.push_back(parse_expression(with_cond));
    if (!is_op(",")) break;
    is_tuple = true;
  }
  if (!is_tuple) {
    if (!items.empty()) return std::move(items[0]);
    if (!explicit_parens) error(cur(), "expected an expression, got " + describe(cur()));
  }
  auto t = node(ExprKind::Tuple, at);
  t->kids = std::move(items);
  return t;
}

ExprPtr Parser::parse_expression(bool with_cond) {
  Depth d(*this, cur());
  ExprPtr e = parse_or();
  while (with_cond && is_name("if")) {
    auto c = node(ExprKind::Cond, cur());
    ++pos_;
    c->kids.push_back(parse_or());
    c->kids.push_back(std::move(e));
    c->kids.push_back(skip_name("else") ? parse_expression(true) : nullptr);
    e = std::move(c);
  }
  return e;
}

ExprPtr Parser::parse_or() {
  ExprPtr e = parse_and();
  while (is_name("or")) {
    auto o = node(ExprKind::Or, cur());
    ++pos_;
    o->kids.push_back(std::move(e));
    o->kids.push_back(parse_and());
    e = std::move(o);
  }
  return e;
}

ExprPtr Parser::parse_and() {
  ExprPtr e = parse_not();
  while (is_name("and")) {
    auto a = node(ExprKind::And, cur());
    ++pos_;
    a->kids.push_back(std::move(e));
    a->kids.push_back(parse_not());
    e = std::move(a);
  }
  return e;
}

ExprPtr Parser::parse_not() {
  if (!is_name("not")) return parse_compare();
  Depth d(*this, cur());
  auto n = node(ExprKind::Not, cur());
  ++pos_;
  n->kids.push_back(parse_not());
  return n;
}

ExprPtr Parser::parse_compare() {
  ExprPtr first = parse_math1();
  ExprPtr cmp;
  while (true) {
    std::string op;
    if (cur().type == Tok::Op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                  cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
      op = cur().text;
      ++pos_;
    } else if (is_name("in")) {
      op = "in";
      ++pos_;
    } else if (is_name("not") && peek().type == Tok::Name && peek().text == "in") {
      op = "notin";
      pos_ += 2;
    } else {
      break;
    }
    if (!cmp) {
      cmp = node(ExprKind::Compare, t_[pos_ - 1]);
      cmp->kids.push_back(std::move(first));
    }
    cmp->ops.push_back(op);
    cmp->kids.push_back(parse_math1());
  }
  return cmp ? std::move(cmp) : std::move(first);
}

static ExprPtr binary(ExprPtr left, ExprPtr right, const std::string& op) {
  auto b = std::make_unique<Expr>();
  b->kind = ExprKind::Binary;
  b->line = left->line;
  b->col = left->col;
  b->name = op;
  b->kids.push_back(std::move(left));
  b->kids.push_back(std::move(right));
  return b;
}

ExprPtr Parser::parse_math1() {
  ExprPtr e = parse_concat();
  while (is_op("+") || is_op("-")) {
    const std::string op = t_[pos_++].text;
    ExprPtr r = parse_concat();
    e = binary(std::move(e), std::move(r), op);
  }
  return e;
}

ExprPtr Parser::parse_concat() {
  ExprPtr e = parse_math2();
  while (skip_op("~")) {
    ExprPtr r = parse_math2();
    e = binary(std::move(e), std::move(r), "~");
  }
  return e;
}

ExprPtr Parser::parse_math2() {
  ExprPtr e = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const std::string op = t_[pos_++].text;
    ExprPtr r = parse_pow();
    e = binary(std::move(e), std::move(r), op);
  }
  return e;
}

ExprPtr Parser::parse_pow() {
  ExprPtr e = parse_unary();
  while (skip_op("**")) {
    ExprPtr r = parse_unary();
    e = binary(std::move(e), std::move(r), "**");
  }
  return e;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  ExprPtr e;
  if (is_op("-") || is_op("+")) {
    Depth d(*this, cur());
    e = node(is_op("-") ? ExprKind::Neg : ExprKind::Pos, cur());
    ++pos_;
    e->kids.push_back(parse_unary(false));
  } else {
    e = parse_primary();
  }
  e = parse_postfix(std::move(e));
  return with_filter ? parse_filter_expr(std::move(e)) : std::move(e);
}

ExprPtr Parser::parse_literal_name(const Token& at) {
  auto lit = node(ExprKind::Literal, at);
  const std::string& n = at.text;
  if (n == "true" || n == "True") lit->value = Value(true);
  else if (n == "false" || n == "False") lit->value = Value(false);
  else if (n == "none" || n == "None") lit->value = Value::none();
  else return nullptr;
  return lit;
}

ExprPtr Parser::parse_primary() {
  const Token at = cur();
  if (at.type == Tok::Name) {
    ++pos_;
    if (ExprPtr lit = parse_literal_name(at)) return lit;
    auto n = node(ExprKind::Name, at);
    n->name = at.text;
    return n;
  }
  if (at.type == Tok::String) {
    std::string s;
    while (cur().type == Tok::String) s += t_[pos_++].text;  // 'a' 'b' is 'ab'
    auto lit = node(ExprKind::Literal, at);
    lit->value = Value(std::move(s));
    return lit;
  }
  if (at.type == Tok::Int || at.type == Tok::Float) {
    ++pos_;
    auto lit = node(ExprKind::Literal, at);
    errno = 0;
    if (at.type == Tok::Int) lit->value = Value(static_cast<int64_t>(std::strtoll(at.text.c_str(), nullptr, 10)));
    else lit->value = Value(std::strtod(at.text.c_str(), nullptr));
    if (errno == ERANGE && at.type == Tok::Int) error(at, "integer literal out of range");
    return lit;
  }
  if (skip_op("(")) {
    ExprPtr e = parse_tuple(true, true);
    expect_op(")");
    return e;
  }
  if (is_op("[") || is_op("{")) return parse_list_or_dict(at);
  error(at, "unexpected " + describe(at));
}

ExprPtr Parser::parse_list_or_dict(const Token& at) {
  const bool list = is_op("[");
  const char* close = list ? "]" : "}";
  ++pos_;
  auto e = node(list ? ExprKind::List : ExprKind::Dict, at);
  while (!skip_op(close)) {
    if (!e->kids.empty()) {
      expect_op(",");
      if (skip_op(close)) break;
    }
    e->kids.push_back(parse_expression());
    if (!list) {
      expect_op(":");
      e->kids.push_back(parse_expression());
    }
  }
  return e;
}

ExprPtr Parser::parse_postfix(ExprPtr e) {
  while (true) {
    if (is_op(".") || is_op("[")) {
      e = parse_subscript(std::move(e));
    } else if (is_op("(")) {
      auto c = node(ExprKind::Call, cur());
      c->line = e->line;  // a call is where its callee is
      c->col = e->col;
      c->kids.push_back(std::move(e));
      parse_call_args(*c);
      e = std::move(c);
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_subscript(ExprPtr e) {
  const Token at = t_[pos_++];
  if (at.text == ".") {
    if (cur().type == Tok::Int) {  // x.0 is x[0]
      auto g = node(ExprKind::Getitem, at);
      g->kids.push_back(std::move(e));
      g->kids.push_back(parse_primary());
      return g;
    }
    auto g = node(ExprKind::Getattr, at);
    g->name = expect_name();
    g->kids.push_back(std::move(e));
    return g;
  }
  std::vector<ExprPtr> parts;  // [a] or [a:b:c]
  bool slice = false;
  for (int k = 0; k < 3; ++k) {
    parts.push_back(is_op(":") || is_op("]") ? nullptr : parse_expression());
    if (!skip_op(":")) break;
    slice = true;
  }
  expect_op("]");
  if (!slice && !parts[0]) error(at, "expected an index inside []");
  auto g = node(slice ? ExprKind::Slice : ExprKind::Getitem, at);
  g->kids.push_back(std::move(e));
  for (auto& p : parts) g->kids.push_back(std::move(p));
  while (slice && g->kids.size() < 4) g->kids.push_back(nullptr);
  return g;
}

void Parser::parse_call_args(Expr& call) {
  expect_op("(");
  while (!skip_op(")")) {
    if (call.kids.size() > 1 || !call.kwargs.empty()) {
      expect_op(",");
      if (skip_op(")")) break;
    }
    if (is_op("*") || is_op("**")) error(cur(), "*args and **kwargs in calls are not supported");
    if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "=") {
      std::string key = t_[pos_].text;
      pos_ += 2;
      call.kwargs.emplace_back(std::move(key), parse_expression());
    } else {
      if (!call.kwargs.empty()) error(cur(), "a positional argument follows a keyword argument");
      call.kids.push_back(parse_expression());
    }
  }
}

ExprPtr Parser::parse_filter_expr(ExprPtr e) {
  while (true) {
    if (is_op("|")) e = parse_filter(std::move(e), false);
    else if (is_name("is")) e = parse_test(std::move(e));
    else if (is_op("(")) {
      auto c = node(ExprKind::Call, cur());
      c->line = e->line;  // a call is where its callee is
      c->col = e->col;
      c->kids.push_back(std::move(e));
      parse_call_args(*c);
      e = std::move(c);
    } else {
      return e;
    }
  }
}

// `| name(args)`, repeated; with start_inline (a filter block or `set x | f`) the chain starts
// at the filter's name and its operand is the block's text.
ExprPtr Parser::parse_filter(ExprPtr e, bool start_inline) {
  while (start_inline || is_op("|")) {
    if (!start_inline || is_op("|")) ++pos_;
    start_inline = false;
    const Token at = cur();
    auto f = node(ExprKind::Filter, at);
    f->name = expect_name();
    while (skip_op(".")) f->name += "." + expect_name();
    if (!has_filter(f->name)) error(at, "no filter named '" + f->name + "'");
    f->kids.push_back(std::move(e));
    if (is_op("(")) parse_call_args(*f);
    e = std::move(f);
  }
  return e;
}

ExprPtr Parser::parse_test(ExprPtr e) {
  const Token is = t_[pos_++];
  const bool negated = skip_name("not");
  const Token at = cur();
  auto t = node(ExprKind::Test, at);
  t->name = expect_name();
  if (!has_test(t->name)) error(at, "no test named '" + t->name + "'");
  t->kids.push_back(std::move(e));
  const Tok ty = cur().type;
  if (is_op("(")) {
    parse_call_args(*t);
  } else if ((ty == Tok::Name || ty == Tok::String || ty == Tok::Int || ty == Tok::Float || is_op("[") || is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) error(cur(), "tests cannot be chained with 'is'");
    t->kids.push_back(parse_postfix(parse_primary()));
  }
  if (!negated) return t;
  auto n = node(ExprKind::Not, is);
  n->kids.push_back(std::move(t));
  return n;
}

}  // namespace rlvr::jinja::detail
