// Statements: output, if, for (loop.*, else, the inline filter, break / continue), set (names,
// tuples, namespace attributes, blocks), macros and call blocks, filter and with blocks; the
// scopes they run in; and Template, which ties the lexer, parser and renderer together.
#include "rlvr/chat/renderer.h"

#include <ctime>

#include "rlvr/chat/lexer.h"
#include "rlvr/chat/parser.h"
#include "rlvr/core/error.h"

namespace rlvr::jinja {

void Frame::set(const std::string& name, Value v) {
  for (auto& kv : vars) {
    if (kv.first == name) {
      kv.second = std::move(v);
      return;
    }
  }
  vars.emplace_back(name, std::move(v));
}

void Renderer::error_at(int line, int col, const std::string& msg) const {
  throw PositionedError(name_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + msg);
}

void Renderer::count_step() {
  if (++steps_ > opt_.limits.max_steps)
    fail("the template ran more than ", opt_.limits.max_steps, " steps (loop iterations and calls)");
}

void Renderer::check_size(size_t bytes) const {
  if (bytes > opt_.limits.max_output)
    fail("the template built a string of more than ", opt_.limits.max_output, " bytes");
}

Renderer::Nest::Nest(Renderer& renderer) : r(renderer) {
  if (++r.depth_ > r.opt_.limits.max_depth) {
    --r.depth_;
    fail("the template nests blocks, calls and expressions deeper than ", r.opt_.limits.max_depth);
  }
}

Renderer::Flow Renderer::exec(const Body& body, const FramePtr& f, std::string& out) {
  const Nest nest(*this);
  Flow flow = Flow::Normal;
  for (const auto& s : body) {
    try {
      exec_stmt(*s, f, out, flow);
    } catch (const PositionedError&) {
      throw;
    } catch (const Error& e) {
      error_at(s->line, s->col, e.what());
    }
    if (flow != Flow::Normal) return flow;
  }
  return flow;
}

void Renderer::exec_stmt(const Stmt& s, const FramePtr& f, std::string& out, Flow& flow) {
  switch (s.kind) {
    case StmtKind::Text: out += s.text; break;
    case StmtKind::Output: append_str(out, eval(*s.expr, f)); break;
    case StmtKind::If: exec_if(s, f, out, flow); break;
    case StmtKind::For: exec_for(s, f, out); break;
    case StmtKind::Set: exec_set(s, f); break;
    case StmtKind::SetBlock: {
      std::string text;
      exec(s.bodies[0], f, text);
      f->set(s.targets[0], s.expr ? filter_chain(*s.expr, std::move(text), f) : Value(std::move(text)));
      break;
    }
    case StmtKind::Macro: f->set(s.text, make_macro(s, f)); break;
    case StmtKind::CallBlock: exec_call_block(s, f, out); break;
    case StmtKind::FilterBlock: {
      std::string text;
      exec(s.bodies[0], f, text);
      append_str(out, filter_chain(*s.expr, std::move(text), f));
      break;
    }
    case StmtKind::With: {
      auto w = std::make_shared<Frame>(Frame{f, {}, nullptr});
      for (size_t k = 0; k < s.targets.size(); ++k) w->set(s.targets[k], eval(*s.conds[k], f));
      flow = exec(s.bodies[0], w, out);
      break;
    }
    case StmtKind::Scope: flow = exec(s.bodies[0], f, out); break;
    case StmtKind::Break: flow = Flow::Break; break;
    case StmtKind::Continue: flow = Flow::Continue; break;
  }
  check_size(out.size());
}

// A filter block's (or block set's) `| f | g(...)` applied to its text; the chain's innermost
// filter has no operand.
Value Renderer::filter_chain(const Expr& last, std::string text, const FramePtr& f) {
  Value v = last.kids[0] ? filter_chain(*last.kids[0], std::move(text), f) : Value(std::move(text));
  Args args;
  eval_args(last, f, args, 1);
  return apply_filter(*this, last.name, v, args);
}

void Renderer::exec_if(const Stmt& s, const FramePtr& f, std::string& out, Flow& flow) {
  for (size_t k = 0; k < s.bodies.size(); ++k) {
    if (k < s.conds.size() && !eval(*s.conds[k], f).truthy()) continue;
    flow = exec(s.bodies[k], f, out);
    return;
  }
}

void Renderer::bind(Frame& f, const Stmt& s, const Value& v) const {
  if (!s.unpack) return f.set(s.targets[0], v);
  if (v.kind() != Kind::List || v.list_kind() == ListKind::Generator) fail("cannot unpack a ", kind_name(v));
  const Items& parts = v.items();
  if (parts.size() != s.targets.size())
    fail("cannot unpack ", parts.size(), " values into ", s.targets.size(), " names");
  for (size_t k = 0; k < parts.size(); ++k) f.set(s.targets[k], parts[k]);
}

Items Renderer::loop_items(const Stmt& s, const FramePtr& f) {
  const Value seq = eval(*s.expr, f);
  Items items;
  try {
    items = iterate(seq);
  } catch (const PositionedError&) {
    throw;
  } catch (const Error& e) {
    error_at(s.expr->line, s.expr->col, e.what());
  }
  if (!s.cond) return items;
  Items kept;
  for (const Value& item : items) {
    count_step();
    auto probe = std::make_shared<Frame>(Frame{f, {}, nullptr});
    bind(*probe, s, item);
    if (eval(*s.cond, probe).truthy()) kept.push_back(item);
  }
  return kept;
}

void Renderer::exec_for(const Stmt& s, const FramePtr& f, std::string& out) {
  const Items items = loop_items(s, f);
  if (items.empty()) {
    if (s.bodies.size() > 1) exec(s.bodies[1], f, out);
    return;
  }
  LoopInfo info{&items, 0};
  for (; info.index0 < items.size(); ++info.index0) {
    count_step();
    auto it = std::make_shared<Frame>(Frame{f, {}, &info});
    bind(*it, s, items[info.index0]);
    if (exec(s.bodies[0], it, out) == Flow::Break) break;
  }
}

void Renderer::exec_set(const Stmt& s, const FramePtr& f) {
  Value v = eval(*s.expr, f);
  if (!s.text.empty()) {  // set ns.attr = v
    const Value ns = lookup(s.targets[0], f);
    if (!ns.is_namespace()) fail("cannot assign attribute on non-namespace object '", s.targets[0], "'");
    ns.set_attr(s.text, std::move(v));
    return;
  }
  bind(*f, s, v);
}

Value Renderer::make_macro(const Stmt& s, const FramePtr& f) const {
  std::weak_ptr<Frame> scope = f;  // weak: the frame holds the macro
  const Stmt* m = &s;
  return Value::function(s.text, [m, scope](Renderer& r, Args& args) { return r.call_macro(*m, scope, args); });
}

Value Renderer::call_macro(const Stmt& m, const std::weak_ptr<Frame>& scope, Args& args) {
  FramePtr parent = scope.lock();
  if (!parent) fail("macro '", m.text, "' called after its scope ended");
  if (calls_ >= opt_.limits.max_calls) fail("macro calls nested deeper than ", opt_.limits.max_calls);
  count_step();
  auto f = std::make_shared<Frame>(Frame{parent, {}, nullptr});
  for (size_t k = 0; k < m.params.size(); ++k) {
    Value v = args.take(k, m.params[k].first.c_str());
    if (v.is_undefined() && m.params[k].second) v = eval(*m.params[k].second, f);
    f->set(m.params[k].first, std::move(v));
  }
  Items varargs;
  for (size_t k = m.params.size(); k < args.pos.size(); ++k) varargs.push_back(args.pos[k]);
  Entries kwargs;
  for (const auto& [key, v] : args.kw) {
    bool param = false;
    for (const auto& p : m.params) param = param || p.first == key;
    if (key == "caller") f->set("caller", v);
    else if (!param) kwargs.emplace_back(key, v);
  }
  f->set("varargs", Value::list(std::move(varargs), ListKind::Tuple));
  f->set("kwargs", Value::dict(std::move(kwargs)));
  std::string out;
  ++calls_;
  struct Leave {
    int& n;
    ~Leave() { --n; }
  } leave{calls_};
  exec(m.bodies[0], f, out);
  return Value(std::move(out));
}

void Renderer::exec_call_block(const Stmt& s, const FramePtr& f, std::string& out) {
  const Stmt* body = &s;  // the caller: a macro whose parameters and body are the block's
  std::weak_ptr<Frame> scope = f;
  Value caller = Value::function("caller", [body, scope](Renderer& r, Args& args) {
    return r.call_macro(*body, scope, args);
  });
  const Expr& call = *s.expr;
  const Value callee = eval(*call.kids[0], f);
  if (callee.kind() != Kind::Callable) fail("'{% call %}' needs a macro, got a ", kind_name(callee));
  Args args;
  eval_args(call, f, args, 1);
  args.kw.emplace_back("caller", caller);
  append_str(out, callee.call(*this, args));
}

Template::Template(const std::string& source, std::string name) : name_(std::move(name)) {
  body_ = std::make_shared<const Body>(parse(tokenize(source, name_), name_));
}

}  // namespace rlvr::jinja
