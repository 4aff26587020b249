// The values a Jinja template computes with, as Python's jinja2 sees them: undefined, None,
// bool, int, float, str (UTF-8, indexed by code point), list / tuple / generator, dict (keys in
// insertion order, as json.loads keeps them), namespace and callables (macros, builtins, bound
// methods). Strings, lists and dicts are shared and immutable once built (the sandbox is
// immutable); only a namespace changes, through `set ns.x = ...`.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rlvr/tokenizer/utf8.h"

namespace rlvr::jinja {

enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Callable };
// A list prints and compares as a Python list, a tuple as a tuple; a generator (what jinja2's
// select, map, items ... filters return) is always true and has no length or index.
enum class ListKind : uint8_t { List, Tuple, Generator };

class Value;
struct Args;
class Renderer;
using Items = std::vector<Value>;
using Entries = std::vector<std::pair<std::string, Value>>;
using Function = std::function<Value(Renderer&, Args&)>;

class Value {
 public:
  Value() = default;  // undefined
  Value(bool b) : kind_(Kind::Bool) { n_.b = b; }
  Value(int v) : Value(static_cast<int64_t>(v)) {}
  Value(int64_t v) : kind_(Kind::Int) { n_.i = v; }
  Value(double v) : kind_(Kind::Float) { n_.f = v; }
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}
  static Value none();
  static Value undefined(std::string hint);  // hint names what was missing, for the error
  static Value list(Items items, ListKind kind = ListKind::List);
  static Value dict(Entries entries = {});
  static Value namespace_(Entries entries);
  static Value function(std::string name, Function fn);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_namespace() const;
  bool b() const { return n_.b; }
  int64_t i() const { return kind_ == Kind::Bool ? n_.b : n_.i; }
  double f() const { return kind_ == Kind::Float ? n_.f : static_cast<double>(i()); }
  const std::string& str() const;
  const Items& items() const;
  ListKind list_kind() const;
  const Entries& entries() const;
  const Value* find(std::string_view key) const;  // dict / namespace entry, or nullptr
  void set_attr(const std::string& key, Value v) const;  // namespaces only
  const std::string& function_name() const;
  Value call(Renderer& r, Args& args) const;
  const std::string& undefined_hint() const;
  int depth() const;  // nesting of lists and dicts: 0 for a scalar, at most 256

  bool truthy() const;
  // A value with a length: str (code points), list, tuple, dict; -1 for anything else.
  int64_t length() const;

 private:
  Kind kind_ = Kind::Undefined;
  union {
    bool b;
    int64_t i;
    double f;
  } n_{};
  std::shared_ptr<const void> p_;  // the payload of strings, lists, dicts, callables, hints
};

// Arguments of a call: positional, then keyword, in the order written.
struct Args {
  Items pos;
  Entries kw;
  // The argument named `name` or at position `index` (taken once), else `fallback`.
  Value take(size_t index, const char* name, Value fallback = Value());
  Value keyword(const char* name, Value fallback = Value()) { return take(SIZE_MAX, name, std::move(fallback)); }
  // Fails naming `what` when an argument was not taken.
  void done(const std::string& what) const;
  std::vector<bool> used;
};

bool equals(const Value& a, const Value& b);
// Python's type name of a value ("str", "list", "NoneType" ...), for error messages.
const char* kind_name(const Value& v);
// -1, 0, 1 as Python orders numbers, strings and sequences; rlvr::Error for other pairs.
int compare(const Value& a, const Value& b);

// Python's str(v) (what {{ v }} prints) and repr(v).
std::string to_str(const Value& v);
void append_str(std::string& out, const Value& v);
std::string repr(const Value& v);
std::string float_repr(double d);

struct JsonOptions {
  bool ensure_ascii = false;
  std::string indent;  // none when !indented
  bool indented = false;
  std::string item_sep = ", ", key_sep = ": ";
  bool sort_keys = false;
  size_t max_size = size_t{256} << 20;  // fails past this many bytes of output
};
// Python's json.dumps(v, ...): rlvr::Error for values JSON cannot hold.
std::string to_json(const Value& v, const JsonOptions& opt);

// JSON -> values (object keys keep their order); values -> JSON (for callers of the renderer).
Value from_json(const nlohmann::ordered_json& j);

// UTF-8 helpers: code points of a string, and one code point back to UTF-8.
// The code points of UTF-8 text (tokenizer/utf8.h decode_at; append_codepoint is the inverse).
std::vector<uint32_t> code_points(std::string_view s);
size_t utf8_length(std::string_view s);

}  // namespace rlvr::jinja
