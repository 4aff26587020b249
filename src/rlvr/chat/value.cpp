// Values: construction, truth, length, equality and order, as Python defines them.
#include "rlvr/chat/value.h"

#include <algorithm>

#include "rlvr/core/error.h"

namespace rlvr::jinja {

namespace {

struct ListData {
  Items items;
  ListKind kind;
  int depth;
};
struct DictData {
  mutable Entries entries;  // mutable: a namespace's `set ns.x`
  bool is_namespace = false;
  int depth;
};

constexpr int kMaxValueDepth = 256;  // keeps printing, comparing and freeing values off deep recursion

int checked_depth(int deepest_child) {
  if (deepest_child + 1 > kMaxValueDepth) fail("a list or dict nested more than ", kMaxValueDepth, " levels deep");
  return deepest_child + 1;
}

// True when v is, or holds, a namespace or a function (what a namespace attribute may not hold:
// it could then reach the namespace itself).
bool holds_reference(const Value& v) {
  if (v.kind() == Kind::Callable || v.is_namespace()) return true;
  if (v.kind() == Kind::List) {
    for (const Value& x : v.items())
      if (holds_reference(x)) return true;
  } else if (v.kind() == Kind::Dict) {
    for (const auto& kv : v.entries())
      if (holds_reference(kv.second)) return true;
  }
  return false;
}
struct FunctionData {
  std::string name;
  Function fn;
};

const std::string& empty_string() {
  static const std::string s;
  return s;
}

}  // namespace

Value::Value(std::string s) : kind_(Kind::String) {
  p_ = std::make_shared<const std::string>(std::move(s));
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}

Value Value::undefined(std::string hint) {
  Value v;
  v.p_ = std::make_shared<const std::string>(std::move(hint));
  return v;
}

Value Value::list(Items items, ListKind kind) {
  int deepest = 0;
  for (const Value& x : items) deepest = std::max(deepest, x.depth());
  Value v;
  v.kind_ = Kind::List;
  v.p_ = std::make_shared<const ListData>(ListData{std::move(items), kind, checked_depth(deepest)});
  return v;
}

Value Value::dict(Entries entries) {
  int deepest = 0;
  for (const auto& kv : entries) deepest = std::max(deepest, kv.second.depth());
  Value v;
  v.kind_ = Kind::Dict;
  v.p_ = std::make_shared<const DictData>(DictData{std::move(entries), false, checked_depth(deepest)});
  return v;
}

Value Value::namespace_(Entries entries) {
  for (const auto& kv : entries)
    if (holds_reference(kv.second)) fail("a namespace attribute cannot hold a namespace or a function");
  Value v;
  v.kind_ = Kind::Dict;
  v.p_ = std::make_shared<const DictData>(DictData{std::move(entries), true, 1});
  return v;
}

int Value::depth() const {
  if (kind_ == Kind::List) return static_cast<const ListData*>(p_.get())->depth;
  if (kind_ == Kind::Dict) return static_cast<const DictData*>(p_.get())->depth;
  return 0;
}

Value Value::function(std::string name, Function fn) {
  Value v;
  v.kind_ = Kind::Callable;
  v.p_ = std::make_shared<const FunctionData>(FunctionData{std::move(name), std::move(fn)});
  return v;
}

bool Value::is_namespace() const {
  return kind_ == Kind::Dict && static_cast<const DictData*>(p_.get())->is_namespace;
}

const std::string& Value::str() const {
  return kind_ == Kind::String ? *static_cast<const std::string*>(p_.get()) : empty_string();
}

const Items& Value::items() const { return static_cast<const ListData*>(p_.get())->items; }
ListKind Value::list_kind() const { return static_cast<const ListData*>(p_.get())->kind; }
const Entries& Value::entries() const {
  return static_cast<const DictData*>(p_.get())->entries;
}

const Value* Value::find(std::string_view key) const {
  if (kind_ != Kind::Dict) return nullptr;
  for (const auto& [k, v] : entries())
    if (k == key) return &v;
  return nullptr;
}

void Value::set_attr(const std::string& key, Value v) const {
  RLVR_CHECK(is_namespace(), "cannot assign attribute '", key, "' of a value that is not a namespace()");
  RLVR_CHECK(!holds_reference(v), "a namespace attribute cannot hold a namespace or a function (ns.", key, ")");
  Entries& e = static_cast<const DictData*>(p_.get())->entries;
  for (auto& kv : e) {
    if (kv.first == key) {
      kv.second = std::move(v);
      return;
    }
  }
  e.emplace_back(key, std::move(v));
}

const std::string& Value::function_name() const {
  return static_cast<const FunctionData*>(p_.get())->name;
}

Value Value::call(Renderer& r, Args& args) const {
  return static_cast<const FunctionData*>(p_.get())->fn(r, args);
}

const std::string& Value::undefined_hint() const {
  return p_ ? *static_cast<const std::string*>(p_.get()) : empty_string();
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return n_.b;
    case Kind::Int: return n_.i != 0;
    case Kind::Float: return n_.f != 0.0;
    case Kind::String: return !str().empty();
    case Kind::List: return list_kind() == ListKind::Generator || !items().empty();
    case Kind::Dict: return is_namespace() || !entries().empty();
    case Kind::Callable: return true;
  }
  return false;
}

int64_t Value::length() const {
  switch (kind_) {
    case Kind::String: return static_cast<int64_t>(utf8_length(str()));
    case Kind::List: return list_kind() == ListKind::Generator ? -1 : static_cast<int64_t>(items().size());
    case Kind::Dict: return is_namespace() ? -1 : static_cast<int64_t>(entries().size());
    default: return -1;
  }
}

Value Args::take(size_t index, const char* name, Value fallback) {
  if (used.size() < pos.size() + kw.size()) used.assign(pos.size() + kw.size(), false);
  if (index < pos.size()) {
    used[index] = true;
    return pos[index];
  }
  for (size_t k = 0; k < kw.size(); ++k) {
    if (kw[k].first == name) {
      used[pos.size() + k] = true;
      return kw[k].second;
    }
  }
  return fallback;
}

void Args::done(const std::string& what) const {
  for (size_t k = 0; k < pos.size() + kw.size(); ++k) {
    if (k < used.size() && used[k]) continue;
    if (k < pos.size()) fail(what, "() got too many positional arguments");
    fail(what, "() got an unexpected keyword argument '", kw[k - pos.size()].first, "'");
  }
}

static bool numeric(const Value& v) { return v.is_number(); }

static bool dicts_equal(const Value& a, const Value& b) {
  if (a.entries().size() != b.entries().size()) return false;
  for (const auto& [k, v] : a.entries()) {
    const Value* o = b.find(k);
    if (!o || !equals(v, *o)) return false;
  }
  return true;
}

bool equals(const Value& a, const Value& b) {
  if (numeric(a) && numeric(b)) {
    if (a.kind() == Kind::Float || b.kind() == Kind::Float) return a.f() == b.f();
    return a.i() == b.i();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::Undefined:
    case Kind::None: return true;
    case Kind::String: return a.str() == b.str();
    case Kind::List: {
      if (a.list_kind() != b.list_kind() || a.list_kind() == ListKind::Generator) return false;
      const Items &x = a.items(), &y = b.items();
      if (x.size() != y.size()) return false;
      for (size_t k = 0; k < x.size(); ++k)
        if (!equals(x[k], y[k])) return false;
      return true;
    }
    case Kind::Dict:
      if (a.is_namespace() || b.is_namespace()) return &a.entries() == &b.entries();
      return dicts_equal(a, b);
    default: return false;  // callables: identity is not tracked
  }
}

const char* kind_name(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List:
      return v.list_kind() == ListKind::Tuple ? "tuple" : v.list_kind() == ListKind::List ? "list" : "generator";
    case Kind::Dict: return v.is_namespace() ? "Namespace" : "dict";
    case Kind::Callable: return "function";
  }
  return "?";
}

int compare(const Value& a, const Value& b) {
  if (numeric(a) && numeric(b)) {
    if (a.kind() == Kind::Float || b.kind() == Kind::Float) return a.f() < b.f() ? -1 : a.f() > b.f();
    return a.i() < b.i() ? -1 : a.i() > b.i();
  }
  if (a.is_string() && b.is_string()) return a.str().compare(b.str()) < 0 ? -1 : a.str() != b.str();
  if (a.kind() == Kind::List && b.kind() == Kind::List && a.list_kind() == b.list_kind() &&
      a.list_kind() != ListKind::Generator) {
    const Items &x = a.items(), &y = b.items();
    for (size_t k = 0; k < x.size() && k < y.size(); ++k)
      if (!equals(x[k], y[k])) return compare(x[k], y[k]);
    return x.size() < y.size() ? -1 : x.size() > y.size();
  }
  fail("'<' not supported between instances of '", kind_name(a), "' and '", kind_name(b), "'");
}


std::vector<uint32_t> code_points(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) out.push_back(utf8::decode_at(s, i));
  return out;
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace rlvr::jinja
