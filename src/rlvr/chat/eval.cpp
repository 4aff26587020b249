// Expressions: names and scopes, loop.*, attribute / item / slice access, calls, filters, tests,
// Python's arithmetic and comparisons, and literals.
#include <cmath>

#include "rlvr/chat/renderer.h"
#include "rlvr/core/error.h"

namespace rlvr::jinja {

namespace {

const char* const kLoopAttrs[] = {"index", "index0", "revindex", "revindex0", "first", "last",
                                  "length", "previtem", "nextitem", "depth", "depth0"};

}  // namespace

Value Renderer::eval(const Expr& e, const FramePtr& f) {
  const Nest nest(*this);
  try {
    return eval_node(e, f);
  } catch (const PositionedError&) {
    throw;
  } catch (const Error& err) {
    error_at(e.line, e.col, err.what());
  }
}

Value Renderer::lookup(const std::string& name, const FramePtr& f) const {
  for (const Frame* s = f.get(); s; s = s->parent.get()) {
    for (const auto& kv : s->vars)
      if (kv.first == name) return kv.second;
    if (s->loop && name == "loop") return loop_value(*s);
  }
  return Value::undefined("'" + name + "' is undefined");
}

Value Renderer::loop_attr(const Frame& f, const std::string& attr) const {
  const LoopInfo& l = *f.loop;
  const auto n = static_cast<int64_t>(l.items->size()), i = static_cast<int64_t>(l.index0);
  if (attr == "index") return Value(i + 1);
  if (attr == "index0") return Value(i);
  if (attr == "revindex") return Value(n - i);
  if (attr == "revindex0") return Value(n - i - 1);
  if (attr == "first") return Value(i == 0);
  if (attr == "last") return Value(i == n - 1);
  if (attr == "length") return Value(n);
  if (attr == "previtem") return i > 0 ? (*l.items)[i - 1] : Value::undefined("there is no previous item");
  if (attr == "nextitem") return i + 1 < n ? (*l.items)[i + 1] : Value::undefined("there is no next item");
  if (attr == "depth") return Value(int64_t{1});
  if (attr == "depth0") return Value(int64_t{0});
  if (attr == "cycle") {
    const int64_t at = i;
    return Value::function("loop.cycle", [at](Renderer&, Args& a) {
      if (a.pos.empty()) fail("loop.cycle() needs at least one value");
      return a.pos[static_cast<size_t>(at) % a.pos.size()];
    });
  }
  return Value::undefined("the loop has no attribute '" + attr + "'");
}

Value Renderer::loop_value(const Frame& f) const {
  Entries e;
  for (const char* a : kLoopAttrs) e.emplace_back(a, loop_attr(f, a));
  e.emplace_back("cycle", loop_attr(f, "cycle"));
  return Value::dict(std::move(e));
}

Value Renderer::eval_node(const Expr& e, const FramePtr& f) {
  switch (e.kind) {
    case ExprKind::Literal: return e.value;
    case ExprKind::Name: return lookup(e.name, f);
    case ExprKind::Getattr: {
      const Expr& obj = *e.kids[0];
      if (obj.kind == ExprKind::Name && obj.name == "loop") {  // loop.x without building `loop`
        for (const Frame* s = f.get(); s; s = s->parent.get()) {
          bool shadowed = false;
          for (const auto& kv : s->vars) shadowed = shadowed || kv.first == "loop";
          if (shadowed) break;
          if (s->loop) return loop_attr(*s, e.name);
        }
      }
      const Value v = eval(obj, f);
      if (v.is_undefined()) undefined_error(v);
      return get_attr(v, e.name);
    }
    case ExprKind::Getitem:
    case ExprKind::Slice: return eval_subscript(e, f);
    case ExprKind::Call: return eval_call(e, f);
    case ExprKind::Filter: {
      const Value v = eval(*e.kids[0], f);
      Args args;
      eval_args(e, f, args, 1);
      return apply_filter(*this, e.name, v, args);
    }
    case ExprKind::Test: {
      const Value v = eval(*e.kids[0], f);
      Args args;
      eval_args(e, f, args, 1);
      return Value(apply_test(*this, e.name, v, args));
    }
    case ExprKind::Not: return Value(!eval(*e.kids[0], f).truthy());
    case ExprKind::Neg:
    case ExprKind::Pos: {
      const Value v = eval(*e.kids[0], f);
      if (v.is_undefined()) undefined_error(v);
      if (!v.is_number()) fail("bad operand type for unary ", e.kind == ExprKind::Neg ? "-" : "+", ": '", kind_name(v), "'");
      if (e.kind == ExprKind::Pos) return v.kind() == Kind::Bool ? Value(v.i()) : v;
      return v.kind() == Kind::Float ? Value(-v.f()) : binary_op(*this, "-", Value(int64_t{0}), v);
    }
    case ExprKind::Binary: return binary_op(*this, e.name, eval(*e.kids[0], f), eval(*e.kids[1], f));
    case ExprKind::Compare: return eval_compare(e, f);
    case ExprKind::And: {
      Value a = eval(*e.kids[0], f);
      return a.truthy() ? eval(*e.kids[1], f) : a;
    }
    case ExprKind::Or: {
      Value a = eval(*e.kids[0], f);
      return a.truthy() ? a : eval(*e.kids[1], f);
    }
    case ExprKind::Cond:
      if (eval(*e.kids[0], f).truthy()) return eval(*e.kids[1], f);
      return e.kids[2] ? eval(*e.kids[2], f) : Value::undefined("the condition was false and there is no else");
    default: return eval_literal_container(e, f);
  }
}

Value Renderer::eval_subscript(const Expr& e, const FramePtr& f) {
  const Value obj = eval(*e.kids[0], f);
  if (obj.is_undefined()) undefined_error(obj);
  if (e.kind == ExprKind::Getitem) return get_item(obj, eval(*e.kids[1], f));
  Value part[3];
  for (int k = 0; k < 3; ++k)
    if (e.kids[k + 1]) part[k] = eval(*e.kids[k + 1], f);
  return slice(obj, part[0], part[1], part[2]);
}

Value Renderer::eval_literal_container(const Expr& e, const FramePtr& f) {
  if (e.kind == ExprKind::Dict) {
    Entries entries;
    for (size_t k = 0; k + 1 < e.kids.size(); k += 2) {
      const Value key = eval(*e.kids[k], f);
      if (!key.is_string()) fail("dict keys must be strings here, got a ", kind_name(key));
      Value v = eval(*e.kids[k + 1], f);
      bool replaced = false;
      for (auto& kv : entries)
        if (kv.first == key.str()) kv.second = v, replaced = true;
      if (!replaced) entries.emplace_back(key.str(), std::move(v));
    }
    return Value::dict(std::move(entries));
  }
  Items items;
  items.reserve(e.kids.size());
  for (const auto& k : e.kids) items.push_back(eval(*k, f));
  return Value::list(std::move(items), e.kind == ExprKind::Tuple ? ListKind::Tuple : ListKind::List);
}

void Renderer::eval_args(const Expr& e, const FramePtr& f, Args& args, size_t first) {
  for (size_t k = first; k < e.kids.size(); ++k) args.pos.push_back(eval(*e.kids[k], f));
  for (const auto& [key, x] : e.kwargs) args.kw.emplace_back(key, eval(*x, f));
}

Value Renderer::eval_call(const Expr& e, const FramePtr& f) {
  const Expr& callee = *e.kids[0];
  Args args;
  if (callee.kind == ExprKind::Getattr) {  // obj.method(...) without a bound-method value
    const Value obj = eval(*callee.kids[0], f);
    if (obj.is_undefined()) undefined_error(obj);
    if (has_method(obj, callee.name)) {
      eval_args(e, f, args, 1);
      return call_method(*this, obj, callee.name, args);
    }
    const Value fn = get_attr(obj, callee.name);
    if (fn.kind() != Kind::Callable) fail(fn.is_undefined() ? fn.undefined_hint() : "'" + callee.name + "' is not callable");
    eval_args(e, f, args, 1);
    return fn.call(*this, args);
  }
  const Value fn = eval(callee, f);
  if (fn.is_undefined()) undefined_error(fn);
  if (fn.kind() != Kind::Callable) fail("'", kind_name(fn), "' object is not callable");
  eval_args(e, f, args, 1);
  return fn.call(*this, args);
}

Value Renderer::eval_compare(const Expr& e, const FramePtr& f) {
  Value left = eval(*e.kids[0], f);
  for (size_t k = 0; k < e.ops.size(); ++k) {
    Value right = eval(*e.kids[k + 1], f);
    const std::string& op = e.ops[k];
    bool ok;
    if (op == "==") ok = equals(left, right);
    else if (op == "!=") ok = !equals(left, right);
    else if (op == "in") ok = contains(right, left);
    else if (op == "notin") ok = !contains(right, left);
    else {
      if (left.is_undefined()) undefined_error(left);
      if (right.is_undefined()) undefined_error(right);
      const int c = compare(left, right);
      ok = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
    }
    if (!ok) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

namespace {

Value checked(bool overflow, const int64_t& v) {  // by reference: read after the overflow check ran
  if (overflow) fail("integer overflow (Python's integers are unbounded; rlvr's are 64-bit)");
  return Value(v);
}

Value repeat(Renderer& r, const Value& seq, int64_t times) {
  if (times < 0) times = 0;
  if (seq.is_string()) {
    r.check_size(seq.str().size() * static_cast<size_t>(times));
    std::string out;
    for (int64_t k = 0; k < times; ++k) out += seq.str();
    return Value(std::move(out));
  }
  r.check_size(seq.items().size() * static_cast<size_t>(times) * sizeof(Value));
  Items out;
  for (int64_t k = 0; k < times; ++k) out.insert(out.end(), seq.items().begin(), seq.items().end());
  return Value::list(std::move(out), seq.list_kind());
}

double py_fmod(double a, double b) {
  const double m = std::fmod(a, b);
  return (m != 0 && ((m < 0) != (b < 0))) ? m + b : m;
}

Value int_op(const std::string& op, int64_t x, int64_t y) {
  int64_t v = 0;
  if (op == "+") return checked(__builtin_add_overflow(x, y, &v), v);
  if (op == "-") return checked(__builtin_sub_overflow(x, y, &v), v);
  if (op == "*") return checked(__builtin_mul_overflow(x, y, &v), v);
  if (op == "/") return Value(static_cast<double>(x) / static_cast<double>(y));
  if (op == "//" || op == "%") {
    if (x == INT64_MIN && y == -1) fail("integer overflow");
    int64_t q = x / y, m = x % y;
    if (m != 0 && ((m < 0) != (y < 0))) --q, m += y;
    return Value(op == "//" ? q : m);
  }
  if (y < 0) return Value(std::pow(static_cast<double>(x), static_cast<double>(y)));  // **
  int64_t result = 1, base = x;  // by squaring
  for (; y > 0; y >>= 1) {
    if ((y & 1) && __builtin_mul_overflow(result, base, &result)) fail("integer overflow in **");
    if (y > 1 && __builtin_mul_overflow(base, base, &base)) fail("integer overflow in **");
  }
  return Value(result);
}

Value float_op(const std::string& op, double x, double y) {
  if (op == "+") return Value(x + y);
  if (op == "-") return Value(x - y);
  if (op == "*") return Value(x * y);
  if (op == "/") return Value(x / y);
  if (op == "//") return Value(std::floor(x / y));
  if (op == "%") return Value(py_fmod(x, y));
  if (x == 0 && y < 0) fail("0.0 cannot be raised to a negative power");
  return Value(std::pow(x, y));
}

}  // namespace

Value binary_op(Renderer& r, const std::string& op, const Value& a, const Value& b) {
  if (op == "~") {
    std::string s = to_str(a);
    append_str(s, b);
    r.check_size(s.size());
    return Value(std::move(s));
  }
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  if (a.is_number() && b.is_number()) {
    const bool zero = b.kind() == Kind::Float ? b.f() == 0.0 : b.i() == 0;
    if (zero && (op == "/" || op == "//" || op == "%")) fail("division by zero");
    if (a.kind() == Kind::Float || b.kind() == Kind::Float) return float_op(op, a.f(), b.f());
    return int_op(op, a.i(), b.i());
  }
  if (op == "+" && a.is_string() && b.is_string()) {
    r.check_size(a.str().size() + b.str().size());
    return Value(a.str() + b.str());
  }
  const bool seq_a = a.is_string() || (a.kind() == Kind::List && a.list_kind() != ListKind::Generator);
  const bool seq_b = b.is_string() || (b.kind() == Kind::List && b.list_kind() != ListKind::Generator);
  if (op == "+" && seq_a && seq_b && !a.is_string() && !b.is_string() && a.list_kind() == b.list_kind()) {
    r.check_size((a.items().size() + b.items().size()) * sizeof(Value));
    Items out = a.items();
    out.insert(out.end(), b.items().begin(), b.items().end());
    return Value::list(std::move(out), a.list_kind());
  }
  if (op == "*" && seq_a && (b.kind() == Kind::Int || b.kind() == Kind::Bool)) return repeat(r, a, b.i());
  if (op == "*" && seq_b && (a.kind() == Kind::Int || a.kind() == Kind::Bool)) return repeat(r, b, a.i());
  if (op == "%" && a.is_string()) fail("printf-style '%' string formatting is not supported");
  fail("unsupported operand type(s) for ", op, ": '", kind_name(a), "' and '", kind_name(b), "'");
}

}  // namespace rlvr::jinja
