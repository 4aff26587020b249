// Attribute and item access as jinja2's immutable sandbox does it, and the methods of str, dict
// and list that templates call. `d.items` is the dict's method even when d has a key "items";
// `d['items']` is the key. Methods that would change a dict or list are unsafe: undefined.
#include <algorithm>
#include <cstring>

#include "rlvr/chat/renderer.h"
#include "rlvr/core/error.h"

namespace rlvr::jinja {

namespace {

const char* const kStrMethods[] = {"strip", "lstrip", "rstrip", "split", "rsplit", "upper", "lower",
                                   "title", "capitalize", "startswith", "endswith", "replace", "find",
                                   "rfind", "count", "join", "splitlines", "isdigit", "isspace",
                                   "isalpha", "isalnum", "isupper", "islower", "format"};
const char* const kDictMethods[] = {"items", "keys", "values", "get", "copy"};
const char* const kDictUnsafe[] = {"pop", "popitem", "setdefault", "update", "clear", "fromkeys"};
const char* const kListMethods[] = {"count", "index", "copy"};
const char* const kListUnsafe[] = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};

template <size_t N>
bool listed(const char* const (&names)[N], const std::string& name) {
  for (const char* n : names)
    if (name == n) return true;
  return false;
}

bool is_plain_list(const Value& v) { return v.kind() == Kind::List && v.list_kind() != ListKind::Generator; }

Value unsafe(const Value& obj, const std::string& name) {
  return Value::undefined(std::string("access to attribute '") + name + "' of '" + kind_name(obj) +
                          "' object is unsafe (the sandbox is immutable)");
}

Value no_attribute(const Value& obj, const std::string& name) {
  return Value::undefined(std::string("'") + kind_name(obj) + " object' has no attribute '" + name + "'");
}

// Python's index into a sequence of n: negative counts from the end; nullopt when out of range.
bool to_index(const Value& key, size_t n, size_t& at) {
  if (key.kind() != Kind::Int && key.kind() != Kind::Bool) return false;
  int64_t i = key.i();
  if (i < 0) i += static_cast<int64_t>(n);
  if (i < 0 || i >= static_cast<int64_t>(n)) return false;
  at = static_cast<size_t>(i);
  return true;
}

int64_t slice_bound(const Value& v, int64_t n, int64_t step, bool is_start) {
  if (v.is_none() || v.is_undefined()) return step < 0 ? (is_start ? n - 1 : -1) : (is_start ? 0 : n);
  if (v.kind() != Kind::Int && v.kind() != Kind::Bool) fail("slice indices must be integers or None");
  int64_t i = v.i();
  if (i < 0) {
    i += n;
    if (i < 0) i = step < 0 ? -1 : 0;
  } else if (i >= n) {
    i = step < 0 ? n - 1 : n;
  }
  return i;
}

}  // namespace

void undefined_error(const Value& v) {
  fail(v.undefined_hint().empty() ? "an undefined value was used" : v.undefined_hint());
}

bool has_method(const Value& obj, const std::string& name) {
  if (obj.is_string()) return listed(kStrMethods, name);
  if (obj.kind() == Kind::Dict && !obj.is_namespace()) return listed(kDictMethods, name);
  if (is_plain_list(obj)) return listed(kListMethods, name);
  return false;
}

Value get_attr(const Value& obj, const std::string& name) {
  if (!name.empty() && name[0] == '_') return unsafe(obj, name);
  if (has_method(obj, name)) {
    return Value::function(name, [obj, name](Renderer& r, Args& args) { return call_method(r, obj, name, args); });
  }
  if (obj.kind() == Kind::Dict) {
    if (!obj.is_namespace() && listed(kDictUnsafe, name)) return unsafe(obj, name);
    if (const Value* v = obj.find(name)) return *v;
  }
  if (is_plain_list(obj) && listed(kListUnsafe, name)) return unsafe(obj, name);
  return no_attribute(obj, name);
}

Value get_item(const Value& obj, const Value& key) {
  size_t at = 0;
  if (obj.kind() == Kind::Dict && key.is_string()) {
    if (const Value* v = obj.find(key.str())) return *v;
  } else if (is_plain_list(obj)) {
    if (to_index(key, obj.items().size(), at)) return obj.items()[at];
  } else if (obj.is_string() && (key.kind() == Kind::Int || key.kind() == Kind::Bool)) {
    const std::vector<uint32_t> cps = code_points(obj.str());
    if (!to_index(key, cps.size(), at)) return Value::undefined("string index out of range");
    std::string c;
    utf8::append_codepoint(c, cps[at]);
    return Value(std::move(c));
  }
  if (key.is_string()) return get_attr(obj, key.str());
  return Value::undefined(std::string("'") + kind_name(obj) + " object' has no item " + repr(key));
}

Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step_v) {
  int64_t step = 1;
  if (!step_v.is_none() && !step_v.is_undefined()) {
    if (step_v.kind() != Kind::Int && step_v.kind() != Kind::Bool) fail("slice indices must be integers or None");
    step = step_v.i();
  }
  if (step == 0) fail("slice step cannot be zero");
  std::vector<uint32_t> cps;
  if (obj.is_string()) cps = code_points(obj.str());
  else if (!is_plain_list(obj)) fail("'", kind_name(obj), "' object is not subscriptable");  // jinja2 slices directly
  const auto n = static_cast<int64_t>(obj.is_string() ? cps.size() : obj.items().size());
  const int64_t a = slice_bound(start, n, step, true), b = slice_bound(stop, n, step, false);
  std::string s;
  Items items;
  for (int64_t i = a; step > 0 ? i < b : i > b; i += step) {
    if (obj.is_string()) utf8::append_codepoint(s, cps[static_cast<size_t>(i)]);
    else items.push_back(obj.items()[static_cast<size_t>(i)]);
  }
  if (obj.is_string()) return Value(std::move(s));
  return Value::list(std::move(items), obj.list_kind());
}

Items iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return {};
    case Kind::List: return v.items();
    case Kind::Dict: {
      if (v.is_namespace()) break;
      Items keys;
      for (const auto& kv : v.entries()) keys.emplace_back(kv.first);
      return keys;
    }
    case Kind::String: {
      Items chars;
      for (uint32_t cp : code_points(v.str())) {
        std::string c;
        utf8::append_codepoint(c, cp);
        chars.emplace_back(std::move(c));
      }
      return chars;
    }
    default: break;
  }
  fail("'", kind_name(v), "' object is not iterable");
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::Undefined: return false;
    case Kind::String:
      if (!item.is_string()) fail("'in <string>' requires a string as left operand, not ", kind_name(item));
      return container.str().find(item.str()) != std::string::npos;
    case Kind::List:
      for (const Value& x : container.items())
        if (equals(x, item)) return true;
      return false;
    case Kind::Dict:
      if (container.is_namespace()) break;
      if (item.kind() == Kind::List || item.kind() == Kind::Dict) fail("unhashable type: '", kind_name(item), "'");
      return item.is_string() && container.find(item.str()) != nullptr;
    default: break;
  }
  fail("argument of type '", kind_name(container), "' is not iterable");
}

namespace {

int64_t int_arg(const Value& v, int64_t fallback, const char* what) {
  if (v.is_undefined() || v.is_none()) return fallback;
  if (v.kind() != Kind::Int && v.kind() != Kind::Bool) fail(what, ": an integer argument is required");
  return v.i();
}

const std::string& str_arg(const Value& v, const char* what) {
  if (!v.is_string()) fail(what, "() argument must be str, not ", kind_name(v));
  return v.str();
}

bool affix(const std::string& s, const Value& arg, bool prefix, const char* what) {
  Items options = arg.kind() == Kind::List && arg.list_kind() == ListKind::Tuple ? arg.items() : Items{arg};
  for (const Value& o : options) {
    const std::string& p = str_arg(o, what);
    if (p.size() > s.size()) continue;
    if (prefix ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0) return true;
  }
  return false;
}

template <class Pred>
bool all_chars(const std::string& s, Pred pred) {
  const std::vector<uint32_t> cps = code_points(s);
  return !cps.empty() && std::all_of(cps.begin(), cps.end(), pred);
}

Value str_predicate(const std::string& s, const std::string& name) {
  if (name == "isdigit") return Value(all_chars(s, [](uint32_t c) { return c >= '0' && c <= '9'; }));
  if (name == "isspace") return Value(all_chars(s, is_py_space));
  if (name == "isalpha")
    return Value(all_chars(s, [](uint32_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }));
  if (name == "isalnum")
    return Value(all_chars(s, [](uint32_t c) { return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9'); }));
  const bool upper = name == "isupper";
  return Value(py_upper(s) != py_lower(s) && (upper ? py_upper(s) : py_lower(s)) == s);
}

Value str_method(Renderer& r, const std::string& s, const std::string& name, Args& a) {
  const std::string what = "str." + name;
  Value out;
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    out = Value(py_strip(s, a.take(0, "chars"), name != "rstrip", name != "lstrip"));
  } else if (name == "split" || name == "rsplit") {
    const Value sep = a.take(0, "sep");
    const int64_t max = int_arg(a.take(1, "maxsplit"), -1, what.c_str());
    if (name == "rsplit" && max >= 0) fail("str.rsplit with maxsplit is not supported");
    out = Value::list(py_split(s, sep, max));
  } else if (name == "upper") out = Value(py_upper(s));
  else if (name == "lower") out = Value(py_lower(s));
  else if (name == "title") out = Value(py_title(s));
  else if (name == "capitalize") out = Value(py_capitalize(s));
  else if (name == "startswith" || name == "endswith") out = Value(affix(s, a.take(0, "prefix"), name == "startswith", what.c_str()));
  else if (name == "replace") {
    const std::string& old = str_arg(a.take(0, "old"), what.c_str());
    const std::string& with = str_arg(a.take(1, "new"), what.c_str());
    r.check_size(replace_bound(s, old, with));
    out = Value(py_replace(s, old, with, int_arg(a.take(2, "count"), -1, what.c_str())));
  } else if (name == "find" || name == "rfind") {
    const std::string& sub = str_arg(a.take(0, "sub"), what.c_str());
    const size_t at = name == "find" ? s.find(sub) : s.rfind(sub);
    out = Value(at == std::string::npos ? int64_t{-1} : static_cast<int64_t>(utf8_length(s.substr(0, at))));
  } else if (name == "count") {
    const std::string& sub = str_arg(a.take(0, "sub"), what.c_str());
    int64_t n = 0;
    if (sub.empty()) n = static_cast<int64_t>(utf8_length(s)) + 1;
    else for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
    out = Value(n);
  } else if (name == "join") {
    std::string joined;
    bool first = true;
    for (const Value& x : iterate(a.take(0, "iterable"))) {
      if (!first) joined += s;
      first = false;
      joined += str_arg(x, what.c_str());
    }
    out = Value(std::move(joined));
  } else if (name == "splitlines") {
    Items lines;
    for (auto& l : py_splitlines(s)) lines.emplace_back(std::move(l));
    out = Value::list(std::move(lines));
  } else if (name == "format") {
    fail("str.format is not supported");
  } else {
    out = str_predicate(s, name);
  }
  a.done(what);
  return out;
}

Value dict_method(const Value& d, const std::string& name, Args& a) {
  Value out;
  if (name == "items") {
    Items pairs;
    for (const auto& [k, v] : d.entries()) pairs.push_back(Value::list({Value(k), v}, ListKind::Tuple));
    out = Value::list(std::move(pairs));
  } else if (name == "keys" || name == "values") {
    Items xs;
    for (const auto& [k, v] : d.entries()) xs.push_back(name == "keys" ? Value(k) : v);
    out = Value::list(std::move(xs));
  } else if (name == "get") {
    const Value key = a.take(0, "key");
    const Value* v = key.is_string() ? d.find(key.str()) : nullptr;
    out = v ? *v : a.take(1, "default", Value::none());
  } else {
    out = d;  // copy: dicts are immutable here
  }
  a.done("dict." + name);
  return out;
}

Value list_method(const Value& l, const std::string& name, Args& a) {
  Value out = l;  // copy
  if (name == "count" || name == "index") {
    const Value x = a.take(0, "value");
    int64_t n = 0, at = -1;
    for (size_t k = 0; k < l.items().size(); ++k) {
      if (!equals(l.items()[k], x)) continue;
      ++n;
      if (at < 0) at = static_cast<int64_t>(k);
    }
    if (name == "index" && at < 0) fail(repr(x), " is not in list");
    out = Value(name == "count" ? n : at);
  }
  a.done("list." + name);
  return out;
}

}  // namespace

Value call_method(Renderer& r, const Value& obj, const std::string& name, Args& args) {
  Value out = obj.is_string() ? str_method(r, obj.str(), name, args)
              : obj.kind() == Kind::Dict ? dict_method(obj, name, args)
                                         : list_method(obj, name, args);
  if (out.is_string()) r.check_size(out.str().size());
  return out;
}

}  // namespace rlvr::jinja
