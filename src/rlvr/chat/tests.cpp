// jinja2's tests (`x is defined`, `x is none`, `x is string` ...) as Python defines the types:
// a bool is a number, a str is iterable and a sequence, undefined is iterable.
#include <cmath>
#include <map>

#include "rlvr/chat/parser.h"
#include "rlvr/chat/renderer.h"
#include "rlvr/core/error.h"

namespace rlvr::jinja {

namespace {

using Test = bool (*)(const Value&, Args&);

Value arg(Args& a, const char* name) {
  Value v = a.take(0, name);
  a.done(std::string("test ") + name);
  return v;
}

bool t_defined(const Value& v, Args& a) { return a.done("defined"), !v.is_undefined(); }
bool t_undefined(const Value& v, Args& a) { return a.done("undefined"), v.is_undefined(); }
bool t_none(const Value& v, Args& a) { return a.done("none"), v.is_none(); }
bool t_string(const Value& v, Args& a) { return a.done("string"), v.is_string(); }
bool t_mapping(const Value& v, Args& a) { return a.done("mapping"), v.kind() == Kind::Dict && !v.is_namespace(); }
bool t_number(const Value& v, Args& a) { return a.done("number"), v.is_number(); }
bool t_integer(const Value& v, Args& a) { return a.done("integer"), v.kind() == Kind::Int; }
bool t_float(const Value& v, Args& a) { return a.done("float"), v.kind() == Kind::Float; }
bool t_boolean(const Value& v, Args& a) { return a.done("boolean"), v.kind() == Kind::Bool; }
bool t_true(const Value& v, Args& a) { return a.done("true"), v.kind() == Kind::Bool && v.b(); }
bool t_false(const Value& v, Args& a) { return a.done("false"), v.kind() == Kind::Bool && !v.b(); }
bool t_callable(const Value& v, Args& a) { return a.done("callable"), v.kind() == Kind::Callable; }
bool t_iterable(const Value& v, Args& a) {
  a.done("iterable");
  return v.is_undefined() || v.is_string() || v.kind() == Kind::List || (v.kind() == Kind::Dict && !v.is_namespace());
}
bool t_sequence(const Value& v, Args& a) { return a.done("sequence"), v.is_undefined() || v.length() >= 0; }
// str(v).islower() / isupper(): some cased character, and all of them in that case.
bool cased_as(const Value& v, bool upper) {
  const std::string s = to_str(v), up = py_upper(s), low = py_lower(s);
  return up != low && (upper ? up : low) == s;
}
bool t_lower(const Value& v, Args& a) { return a.done("lower"), cased_as(v, false); }
bool t_upper(const Value& v, Args& a) { return a.done("upper"), cased_as(v, true); }

int64_t integer(const Value& v, const char* test) {
  if (v.kind() != Kind::Int && v.kind() != Kind::Bool) fail("test '", test, "' needs an integer, got ", kind_name(v));
  return v.i();
}
// Python's value % 2 (floats too), compared with 1 (odd) or 0 (even).
bool parity_is(const Value& v, int want, const char* test) {
  if (v.kind() == Kind::Float) return std::fabs(std::fmod(std::fmod(v.f(), 2.0) + 2.0, 2.0)) == want;
  const int64_t r = integer(v, test) % 2;
  return (r < 0 ? r + 2 : r) == want;
}
bool t_odd(const Value& v, Args& a) { return a.done("odd"), parity_is(v, 1, "odd"); }
bool t_even(const Value& v, Args& a) { return a.done("even"), parity_is(v, 0, "even"); }
bool t_divisibleby(const Value& v, Args& a) {
  const Value d = arg(a, "num");
  if (!v.is_number() || !d.is_number()) fail("test 'divisibleby' needs numbers, got ", kind_name(v), " and ", kind_name(d));
  if (d.f() == 0) fail("test 'divisibleby': division by zero");
  if (v.kind() == Kind::Float || d.kind() == Kind::Float) return std::fmod(v.f(), d.f()) == 0;
  return v.i() % d.i() == 0;
}

bool t_eq(const Value& v, Args& a) { return equals(v, arg(a, "other")); }
bool t_ne(const Value& v, Args& a) { return !equals(v, arg(a, "other")); }
bool t_lt(const Value& v, Args& a) { return compare(v, arg(a, "other")) < 0; }
bool t_le(const Value& v, Args& a) { return compare(v, arg(a, "other")) <= 0; }
bool t_gt(const Value& v, Args& a) { return compare(v, arg(a, "other")) > 0; }
bool t_ge(const Value& v, Args& a) { return compare(v, arg(a, "other")) >= 0; }
bool t_in(const Value& v, Args& a) { return contains(arg(a, "seq"), v); }
bool t_sameas(const Value& v, Args& a) {  // identity: the same singleton, or equal scalars
  const Value o = arg(a, "other");
  if (v.kind() != o.kind()) return false;
  return v.kind() == Kind::None || v.kind() == Kind::Undefined || (v.kind() == Kind::Bool && v.b() == o.b()) ||
         (v.kind() == Kind::Int && v.i() == o.i());
}

const std::map<std::string, Test>& tests() {
  static const std::map<std::string, Test> table = {
      {"!=", t_ne},          {"<", t_lt},         {"<=", t_le},          {"==", t_eq},
      {">", t_gt},           {">=", t_ge},        {"boolean", t_boolean}, {"callable", t_callable},
      {"defined", t_defined}, {"divisibleby", t_divisibleby}, {"eq", t_eq}, {"equalto", t_eq},
      {"even", t_even},      {"false", t_false},  {"float", t_float},    {"ge", t_ge},
      {"greaterthan", t_gt}, {"gt", t_gt},        {"in", t_in},          {"integer", t_integer},
      {"iterable", t_iterable}, {"le", t_le},     {"lessthan", t_lt},    {"lower", t_lower},
      {"lt", t_lt},          {"mapping", t_mapping}, {"ne", t_ne},       {"none", t_none},
      {"number", t_number},  {"odd", t_odd},      {"sameas", t_sameas},  {"sequence", t_sequence},
      {"string", t_string},  {"true", t_true},    {"undefined", t_undefined}, {"upper", t_upper},
  };
  return table;
}

}  // namespace

bool has_test(const std::string& name) { return tests().count(name) > 0; }

bool apply_test(Renderer&, const std::string& name, const Value& v, Args& args) {
  return tests().at(name)(v, args);
}

}  // namespace rlvr::jinja
