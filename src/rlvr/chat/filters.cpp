// jinja2's filters that chat templates use, with jinja2's arguments and results (select, map,
// items, unique, reverse ... return generators, as in jinja2: always true, no length), and
// transformers' tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None,
// sort_keys=False).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>

#include "rlvr/chat/parser.h"
#include "rlvr/chat/renderer.h"
#include "rlvr/core/error.h"

namespace rlvr::jinja {

namespace {

using Filter = Value (*)(Renderer&, const Value&, Args&);

bool flag(const Value& v) { return v.truthy(); }

// jinja2's attribute getter: "a.b.0" reads item a, then b, then index 0 (items before attributes).
Value attribute_of(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    if (v.is_undefined()) return v;
    v = get_item(v, digits ? Value(static_cast<int64_t>(std::strtoll(part.c_str(), nullptr, 10))) : Value(part));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return v;
}

Value f_length(Renderer&, const Value& v, Args& a) {
  a.done("length");
  if (v.is_undefined()) return Value(int64_t{0});
  const int64_t n = v.length();
  if (n < 0) fail("object of type '", kind_name(v), "' has no len()");
  return Value(n);
}

Value f_tojson(Renderer& r, const Value& v, Args& a) {
  JsonOptions o;
  o.max_size = r.options().limits.max_output;
  o.ensure_ascii = flag(a.take(0, "ensure_ascii", Value(false)));
  const Value indent = a.take(1, "indent", Value::none());
  const Value seps = a.take(2, "separators", Value::none());
  o.sort_keys = flag(a.take(3, "sort_keys", Value(false)));
  a.done("tojson");
  if (indent.kind() == Kind::Int) o.indent.assign(static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(indent.i(), 1000))), ' ');
  else if (indent.is_string()) o.indent = indent.str();
  else if (!indent.is_none()) fail("tojson: indent must be an integer, a string or None");
  o.indented = !indent.is_none();
  if (o.indented) o.item_sep = ",";
  if (!seps.is_none()) {
    if (seps.kind() != Kind::List || seps.items().size() != 2 || !seps.items()[0].is_string() || !seps.items()[1].is_string())
      fail("tojson: separators must be a pair of strings");
    o.item_sep = seps.items()[0].str();
    o.key_sep = seps.items()[1].str();
  }
  return Value(to_json(v, o));
}

Value f_trim(Renderer&, const Value& v, Args& a) {
  const Value chars = a.take(0, "chars", Value::none());
  a.done("trim");
  return Value(py_strip(to_str(v), chars, true, true));
}

template <std::string (*F)(const std::string&)>
Value f_text(Renderer&, const Value& v, Args& a) {
  a.done("filter");
  return Value(F(to_str(v)));
}

Value f_items(Renderer&, const Value& v, Args& a) {
  a.done("items");
  if (v.is_undefined()) return Value::list({}, ListKind::Generator);
  if (v.kind() != Kind::Dict || v.is_namespace()) fail("items: can only get item pairs from a mapping");
  Items pairs;
  for (const auto& [k, x] : v.entries()) pairs.push_back(Value::list({Value(k), x}, ListKind::Tuple));
  return Value::list(std::move(pairs), ListKind::Generator);
}

Value f_list(Renderer&, const Value& v, Args& a) {
  a.done("list");
  return Value::list(iterate(v));
}

Value f_first(Renderer&, const Value& v, Args& a) {
  a.done("first");
  Items items = iterate(v);
  return items.empty() ? Value::undefined("first: the sequence was empty") : items.front();
}

Value f_last(Renderer&, const Value& v, Args& a) {
  a.done("last");
  if (v.kind() == Kind::List && v.list_kind() == ListKind::Generator) fail("last: a generator cannot be reversed");
  Items items = iterate(v);
  return items.empty() ? Value::undefined("last: the sequence was empty") : items.back();
}

Value f_join(Renderer& r, const Value& v, Args& a) {
  const std::string sep = to_str(a.take(0, "d", Value("")));
  const Value attr = a.take(1, "attribute", Value::none());
  a.done("join");
  std::string out;
  bool first = true;
  for (const Value& x : iterate(v)) {
    if (!first) out += sep;
    first = false;
    append_str(out, attr.is_none() ? x : attribute_of(x, to_str(attr)));
    r.check_size(out.size());
  }
  return Value(std::move(out));
}

Value f_replace(Renderer& r, const Value& v, Args& a) {
  const std::string old = to_str(a.take(0, "old")), with = to_str(a.take(1, "new"));
  const Value count = a.take(2, "count", Value::none());
  a.done("replace");
  if (!count.is_none() && count.kind() != Kind::Int) fail("replace: count must be an integer");
  const std::string s = to_str(v);
  r.check_size(replace_bound(s, old, with));
  return Value(py_replace(s, old, with, count.is_none() ? -1 : count.i()));
}

Value f_default(Renderer&, const Value& v, Args& a) {
  const Value fallback = a.take(0, "default_value", Value(""));
  const bool boolean = flag(a.take(1, "boolean", Value(false)));
  a.done("default");
  return v.is_undefined() || (boolean && !v.truthy()) ? fallback : v;
}

Value f_map(Renderer& r, const Value& v, Args& a) {
  Items out;
  if (!v.truthy()) return Value::list({}, ListKind::Generator);  // jinja2 maps nothing over a false value
  const Value attr = a.keyword("attribute");
  if (!attr.is_undefined()) {
    const Value fallback = a.keyword("default");
    a.done("map");
    for (const Value& x : iterate(v)) {
      Value y = attribute_of(x, to_str(attr));
      out.push_back(y.is_undefined() && !fallback.is_undefined() ? fallback : y);
    }
    return Value::list(std::move(out), ListKind::Generator);
  }
  if (a.pos.empty() || !a.pos[0].is_string()) fail("map: give a filter name or attribute=");
  const std::string name = a.pos[0].str();
  if (!has_filter(name)) fail("map: no filter named '", name, "'");
  for (const Value& x : iterate(v)) {
    Args rest;
    rest.pos.assign(a.pos.begin() + 1, a.pos.end());
    rest.kw = a.kw;
    out.push_back(apply_filter(r, name, x, rest));
  }
  return Value::list(std::move(out), ListKind::Generator);
}

// select / reject (by_attr false) and selectattr / rejectattr (by_attr true).
Value select_items(Renderer& r, const Value& v, Args& a, bool by_attr, bool keep) {
  size_t k = 0;
  std::string attr;
  if (by_attr) {
    if (a.pos.empty()) fail("selectattr / rejectattr: give an attribute name");
    attr = to_str(a.pos[k++]);
  }
  std::string test;
  if (k < a.pos.size()) test = to_str(a.pos[k++]);
  if (!test.empty() && !has_test(test)) fail("no test named '", test, "'");
  Items out;
  if (!v.truthy()) return Value::list({}, ListKind::Generator);  // as jinja2: nothing from a false value
  for (const Value& x : iterate(v)) {
    const Value subject = by_attr ? attribute_of(x, attr) : x;
    bool pass;
    if (test.empty()) {
      pass = subject.truthy();
    } else {
      Args rest;
      rest.pos.assign(a.pos.begin() + static_cast<long>(k), a.pos.end());
      rest.kw = a.kw;
      pass = apply_test(r, test, subject, rest);
    }
    if (pass == keep) out.push_back(x);
  }
  return Value::list(std::move(out), ListKind::Generator);
}

Value f_select(Renderer& r, const Value& v, Args& a) { return select_items(r, v, a, false, true); }
Value f_reject(Renderer& r, const Value& v, Args& a) { return select_items(r, v, a, false, false); }
Value f_selectattr(Renderer& r, const Value& v, Args& a) { return select_items(r, v, a, true, true); }
Value f_rejectattr(Renderer& r, const Value& v, Args& a) { return select_items(r, v, a, true, false); }

Value f_string(Renderer&, const Value& v, Args& a) {
  a.done("string");
  return Value(to_str(v));
}

Value f_int(Renderer&, const Value& v, Args& a) {
  const Value fallback = a.take(0, "default", Value(int64_t{0}));
  const Value base = a.take(1, "base", Value(int64_t{10}));
  a.done("int");
  if (v.is_undefined()) undefined_error(v);
  if (v.kind() == Kind::Int || v.kind() == Kind::Bool) return Value(v.i());
  double d;
  if (v.kind() == Kind::Float) {
    d = v.f();
  } else if (v.is_string()) {
    const std::string s = py_strip(v.str(), Value::none(), true, true);
    char* end = nullptr;
    errno = 0;
    const long long i = std::strtoll(s.c_str(), &end, base.kind() == Kind::Int ? static_cast<int>(base.i()) : 10);
    if (!s.empty() && *end == '\0' && errno == 0) return Value(static_cast<int64_t>(i));
    d = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') return fallback;
  } else {
    return fallback;
  }
  if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) fail("int: cannot convert ", float_repr(d), " to an integer");
  return Value(static_cast<int64_t>(d));
}

Value f_float(Renderer&, const Value& v, Args& a) {
  const Value fallback = a.take(0, "default", Value(0.0));
  a.done("float");
  if (v.is_undefined()) undefined_error(v);
  if (v.is_number()) return Value(v.f());
  if (!v.is_string()) return fallback;
  const std::string s = py_strip(v.str(), Value::none(), true, true);
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  return s.empty() || *end != '\0' ? fallback : Value(d);
}

Value f_indent(Renderer& r, const Value& v, Args& a) {
  const Value width = a.take(0, "width", Value(int64_t{4}));
  const bool first = flag(a.take(1, "first", Value(false)));
  const bool blank = flag(a.take(2, "blank", Value(false)));
  a.done("indent");
  if (!v.is_string()) fail("indent: expected a string, got ", kind_name(v));
  std::string pad = width.is_string() ? width.str() : std::string(static_cast<size_t>(std::clamp<int64_t>(width.i(), 0, 1000)), ' ');
  const std::vector<std::string> lines = py_splitlines(v.str() + "\n");
  std::string out;
  for (size_t k = 0; k < lines.size(); ++k) {
    if (k) out += "\n";
    if (k && (blank || !lines[k].empty())) out += pad;
    out += lines[k];
    r.check_size(out.size());
  }
  return Value(first ? pad + out : out);
}

Value f_unique(Renderer& r, const Value& v, Args& a) {
  const bool case_sensitive = flag(a.take(0, "case_sensitive", Value(false)));
  const Value attr = a.take(1, "attribute", Value::none());
  a.done("unique");
  Items out, seen;
  for (const Value& x : iterate(v)) {
    Value key = attr.is_none() ? x : attribute_of(x, to_str(attr));
    if (key.kind() == Kind::List || key.kind() == Kind::Dict) fail("unique: unhashable type: '", kind_name(key), "'");
    if (!case_sensitive && key.is_string()) key = Value(py_lower(key.str()));
    bool dup = false;
    for (const Value& s : seen) {
      r.count_step();
      dup = dup || equals(s, key);
    }
    if (dup) continue;
    seen.push_back(key);
    out.push_back(x);
  }
  return Value::list(std::move(out), ListKind::Generator);
}

Value f_abs(Renderer&, const Value& v, Args& a) {
  a.done("abs");
  if (v.kind() == Kind::Float) return Value(std::fabs(v.f()));
  if (!v.is_number()) fail("bad operand type for abs(): '", kind_name(v), "'");
  if (v.i() == INT64_MIN) fail("integer overflow");
  return Value(v.i() < 0 ? -v.i() : v.i());
}

Value f_reverse(Renderer&, const Value& v, Args& a) {
  a.done("reverse");
  if (v.is_string()) {
    std::vector<uint32_t> cps = code_points(v.str());
    std::string out;
    for (size_t k = cps.size(); k-- > 0;) utf8::append_codepoint(out, cps[k]);
    return Value(std::move(out));
  }
  Items items = iterate(v);
  return Value::list(Items(items.rbegin(), items.rend()), ListKind::Generator);
}

const std::map<std::string, Filter>& filters() {
  static const std::map<std::string, Filter> table = {
      {"abs", f_abs},         {"capitalize", f_text<py_capitalize>}, {"count", f_length},
      {"d", f_default},       {"default", f_default},                {"first", f_first},
      {"float", f_float},     {"indent", f_indent},                  {"int", f_int},
      {"items", f_items},     {"join", f_join},                      {"last", f_last},
      {"length", f_length},   {"list", f_list},                      {"lower", f_text<py_lower>},
      {"map", f_map},         {"reject", f_reject},                  {"rejectattr", f_rejectattr},
      {"replace", f_replace}, {"reverse", f_reverse},                {"safe", f_string},
      {"select", f_select},   {"selectattr", f_selectattr},          {"string", f_string},
      {"title", f_text<jinja_title>}, {"tojson", f_tojson},          {"trim", f_trim},
      {"unique", f_unique},   {"upper", f_text<py_upper>},
  };
  return table;
}

}  // namespace

bool has_filter(const std::string& name) { return filters().count(name) > 0; }

Value apply_filter(Renderer& r, const std::string& name, const Value& v, Args& args) {
  return filters().at(name)(r, v, args);
}

}  // namespace rlvr::jinja
