// The statements of a template (jinja2's tags): for, if, set, macro, call, filter, with,
// generation, break / continue. Expressions are in parse_expr.cpp.
#include "rlvr/chat/parser.h"

#include "rlvr/chat/parser_impl.h"

namespace rlvr::jinja {

namespace detail {

std::string Parser::describe(const Token& t) const {
  switch (t.type) {
    case Tok::End: return "end of template";
    case Tok::VarEnd: return "'}}'";
    case Tok::BlockEnd: return "'%}'";
    case Tok::Text: return "template text";
    case Tok::String: return "a string";
    default: return "'" + t.text + "'";
  }
}

void Parser::expect_op(const char* op) {
  if (!skip_op(op)) error(cur(), std::string("expected '") + op + "', got " + describe(cur()));
}

std::string Parser::expect_name() {
  if (cur().type != Tok::Name) error(cur(), "expected a name, got " + describe(cur()));
  return t_[pos_++].text;
}

void Parser::expect_block_end() {
  if (cur().type != Tok::BlockEnd) error(cur(), "expected the end of the tag '%}', got " + describe(cur()));
  ++pos_;
}

bool Parser::at_end_tag(std::initializer_list<const char*> ends) const {
  if (cur().type != Tok::BlockBegin || peek().type != Tok::Name) return false;
  for (const char* e : ends)
    if (peek().text == e) return true;
  return false;
}

Body Parser::parse_body(std::initializer_list<const char*> ends) {
  Body body;
  while (true) {
    const Token& t = cur();
    if (t.type == Tok::End) {
      if (ends.size() == 0) return body;
      std::string close = *ends.begin();
      for (const char* e : ends)
        if (std::string(e).rfind("end", 0) == 0) close = e;
      error(t, "unexpected end of template: missing '{% " + close + " %}'");
    }
    if (at_end_tag(ends)) return body;
    if (t.type == Tok::Text) {
      body.push_back(make(StmtKind::Text, t));
      body.back()->text = t.text;
      ++pos_;
    } else if (t.type == Tok::VarBegin) {
      ++pos_;
      auto s = make(StmtKind::Output, t);
      s->expr = parse_tuple(true);
      if (cur().type != Tok::VarEnd) error(cur(), "expected the end of the expression '}}', got " + describe(cur()));
      ++pos_;
      body.push_back(std::move(s));
    } else {
      ++pos_;  // BlockBegin
      body.push_back(parse_statement());
    }
  }
}

std::unique_ptr<Stmt> Parser::make(StmtKind kind, const Token& at) const {
  auto s = std::make_unique<Stmt>();
  s->kind = kind;
  s->line = at.line;
  s->col = at.col;
  return s;
}

Body Parser::body_until(const char* end) {
  Body b = parse_body({end});
  pos_ += 2;  // {% end...
  expect_block_end();
  return b;
}

std::unique_ptr<Stmt> Parser::parse_statement() {
  const Token at = cur();
  Depth d(*this, at);
  const std::string tag = expect_name();
  if (tag == "for") return parse_for(at);
  if (tag == "if") return parse_if(at);
  if (tag == "set") return parse_set(at);
  if (tag == "macro") return parse_macro(at);
  if (tag == "call") return parse_call_block(at);
  if (tag == "filter") return parse_filter_block(at);
  if (tag == "with") return parse_with(at);
  if (tag == "generation") return parse_scope(at);
  if (tag == "break" || tag == "continue") {
    if (loops_ == 0) error(at, "'" + tag + "' outside of a loop");
    expect_block_end();
    return make(tag == "break" ? StmtKind::Break : StmtKind::Continue, at);
  }
  for (const char* unsupported : {"include", "import", "from", "extends", "block", "do", "trans", "autoescape"})
    if (tag == unsupported) error(at, "'{% " + tag + " %}' is not supported in chat templates");
  if (tag.rfind("end", 0) == 0 || tag == "else" || tag == "elif")
    error(at, "unexpected '{% " + tag + " %}' (no open block it could close)");
  error(at, "unknown tag '" + tag + "'");
}

void Parser::parse_targets(Stmt& s) {
  const bool parens = skip_op("(");
  do {
    s.targets.push_back(expect_name());
    if (skip_op(".")) {  // set ns.attr = ...
      if (s.kind != StmtKind::Set || s.targets.size() != 1) error(cur(), "only `set ns.attr = value` may assign an attribute");
      s.text = expect_name();
      return;
    }
  } while (skip_op(",") && cur().type == Tok::Name);
  s.unpack = s.targets.size() > 1 || (parens && t_[pos_ - 1].text == ",");
  if (parens) expect_op(")");
}

std::unique_ptr<Stmt> Parser::parse_for(const Token& at) {
  auto s = make(StmtKind::For, at);
  parse_targets(*s);
  if (!skip_name("in")) error(cur(), "expected 'in' in the for loop, got " + describe(cur()));
  s->expr = parse_tuple(false);
  if (skip_name("if")) s->cond = parse_expression(true);
  if (is_name("recursive")) error(cur(), "recursive loops are not supported");
  expect_block_end();
  ++loops_;
  s->bodies.push_back(parse_body({"endfor", "else"}));
  --loops_;
  if (peek().text == "else") {
    pos_ += 2;
    expect_block_end();
    s->bodies.push_back(parse_body({"endfor"}));
  }
  pos_ += 2;
  expect_block_end();
  return s;
}

std::unique_ptr<Stmt> Parser::parse_if(const Token& at) {
  auto s = make(StmtKind::If, at);
  s->conds.push_back(parse_tuple(false));
  expect_block_end();
  while (true) {
    s->bodies.push_back(parse_body({"elif", "else", "endif"}));
    const std::string tag = peek().text;
    pos_ += 2;
    if (tag == "endif") break;
    if (tag == "elif") {
      s->conds.push_back(parse_tuple(false));
      expect_block_end();
      continue;
    }
    expect_block_end();  // else
    s->bodies.push_back(parse_body({"endif"}));
    pos_ += 2;
    break;
  }
  expect_block_end();
  return s;
}

std::unique_ptr<Stmt> Parser::parse_set(const Token& at) {
  auto s = make(StmtKind::Set, at);
  parse_targets(*s);
  if (skip_op("=")) {
    s->expr = parse_tuple(true);
    expect_block_end();
    return s;
  }
  if (s->unpack || !s->text.empty()) error(cur(), "a block set assigns one name");
  s->kind = StmtKind::SetBlock;
  if (is_op("|")) s->expr = parse_filter(nullptr, true);
  expect_block_end();
  s->bodies.push_back(body_until("endset"));
  return s;
}

void Parser::parse_params(Stmt& s) {
  expect_op("(");
  while (!skip_op(")")) {
    if (!s.params.empty()) expect_op(",");
    if (skip_op(")")) break;
    std::string p = expect_name();
    ExprPtr def = skip_op("=") ? parse_expression() : nullptr;
    if (!def && !s.params.empty() && s.params.back().second)
      error(cur(), "a parameter without a default follows one with a default");
    s.params.emplace_back(std::move(p), std::move(def));
  }
}

std::unique_ptr<Stmt> Parser::parse_macro(const Token& at) {
  auto s = make(StmtKind::Macro, at);
  s->text = expect_name();
  parse_params(*s);
  expect_block_end();
  const int loops = loops_;
  loops_ = 0;
  s->bodies.push_back(body_until("endmacro"));
  loops_ = loops;
  return s;
}

std::unique_ptr<Stmt> Parser::parse_call_block(const Token& at) {
  auto s = make(StmtKind::CallBlock, at);
  if (is_op("(")) parse_params(*s);
  s->expr = parse_expression();
  if (s->expr->kind != ExprKind::Call) error(at, "expected a macro call after '{% call %}'");
  expect_block_end();
  const int loops = loops_;
  loops_ = 0;
  s->bodies.push_back(body_until("endcall"));
  loops_ = loops;
  return s;
}

std::unique_ptr<Stmt> Parser::parse_filter_block(const Token& at) {
  auto s = make(StmtKind::FilterBlock, at);
  s->expr = parse_filter(nullptr, true);
  expect_block_end();
  s->bodies.push_back(body_until("endfilter"));
  return s;
}

std::unique_ptr<Stmt> Parser::parse_with(const Token& at) {
  auto s = make(StmtKind::With, at);
  while (cur().type != Tok::BlockEnd) {
    if (!s->targets.empty()) expect_op(",");
    s->targets.push_back(expect_name());
    expect_op("=");
    s->conds.push_back(parse_expression());
  }
  expect_block_end();
  s->bodies.push_back(body_until("endwith"));
  return s;
}

std::unique_ptr<Stmt> Parser::parse_scope(const Token& at) {
  auto s = make(StmtKind::Scope, at);
  expect_block_end();
  s->bodies.push_back(body_until("endgeneration"));
  return s;
}

}  // namespace detail

Body parse(std::vector<Token> tokens, const std::string& name) {
  detail::Parser p(std::move(tokens), name);
  return p.run();
}

}  // namespace rlvr::jinja
