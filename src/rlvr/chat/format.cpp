// Values as text: Python's str() and repr(), the float repr, json.dumps (the `tojson` filter as
// transformers defines it) and values from JSON.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "rlvr/chat/value.h"
#include "rlvr/core/error.h"

namespace rlvr::jinja {

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // shortest round trip: "-1.2345e+17"
  const size_t e = sci.find('e');
  const int exp = std::atoi(sci.c_str() + e + 1);
  std::string digits;
  const bool neg = sci[0] == '-';
  for (size_t k = neg; k < e; ++k)
    if (sci[k] != '.') digits += sci[k];
  std::string out = neg ? "-" : "";
  if (exp < -4 || exp >= 16) {  // Python's repr switches to exponent notation here
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char ebuf[8];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    return out + ebuf;
  }
  if (exp < 0) return out + "0." + std::string(-exp - 1, '0') + digits;
  if (digits.size() <= static_cast<size_t>(exp) + 1)
    return out + digits + std::string(exp + 1 - digits.size(), '0') + ".0";
  return out + digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
}

static void append_repr_string(std::string& out, const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const char q = has_single && s.find('"') == std::string::npos ? '"' : '\'';
  out += q;
  for (uint32_t cp : code_points(s)) {
    char buf[16];
    if (cp == static_cast<uint32_t>(q) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD) {
      std::snprintf(buf, sizeof buf, "\\x%02x", cp);
      out += buf;
    } else if (cp == 0x2028 || cp == 0x2029 || (cp >= 0xD800 && cp <= 0xDFFF)) {
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      out += buf;
    } else {
      utf8::append_codepoint(out, cp);
    }
  }
  out += q;
}

static void append_repr(std::string& out, const Value& v);

static void append_sequence(std::string& out, const Value& v) {
  const bool tuple = v.list_kind() == ListKind::Tuple;
  out += tuple ? '(' : '[';
  const Items& items = v.items();
  for (size_t k = 0; k < items.size(); ++k) {
    if (k) out += ", ";
    append_repr(out, items[k]);
  }
  if (tuple && items.size() == 1) out += ',';
  out += tuple ? ')' : ']';
}

static void append_dict(std::string& out, const Value& v) {
  out += v.is_namespace() ? "<Namespace {" : "{";
  bool first = true;
  for (const auto& [k, x] : v.entries()) {
    if (!first) out += ", ";
    first = false;
    append_repr_string(out, k);
    out += ": ";
    append_repr(out, x);
  }
  out += v.is_namespace() ? "}>" : "}";
}

static void append_repr(std::string& out, const Value& v) {
  if (v.is_string()) return append_repr_string(out, v.str());
  if (v.is_undefined()) return void(out += "Undefined");
  append_str(out, v);
}

void append_str(std::string& out, const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return;
    case Kind::None: out += "None"; return;
    case Kind::Bool: out += v.b() ? "True" : "False"; return;
    case Kind::Int: out += std::to_string(v.i()); return;
    case Kind::Float: out += float_repr(v.f()); return;
    case Kind::String: out += v.str(); return;
    case Kind::List:
      if (v.list_kind() == ListKind::Generator) out += "<generator object>";
      else append_sequence(out, v);
      return;
    case Kind::Dict: append_dict(out, v); return;
    case Kind::Callable: out += "<function " + v.function_name() + ">"; return;
  }
}

std::string to_str(const Value& v) {
  if (v.is_string()) return v.str();
  std::string out;
  append_str(out, v);
  return out;
}

std::string repr(const Value& v) {
  std::string out;
  append_repr(out, v);
  return out;
}

static void append_json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    char buf[16];
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (c < 0x20) {
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else if (c < 0x80 || !ensure_ascii) {
      out += static_cast<char>(c);
    } else {
      const size_t n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
      const uint32_t cp = code_points(std::string_view(s).substr(i, n))[0];
      i += n - 1;
      if (cp >= 0x10000) {
        const uint32_t u = cp - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (u >> 10), 0xDC00 + (u & 0x3FF));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      }
      out += buf;
    }
  }
  out += '"';
}

static std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  return float_repr(d);
}

static void append_json(std::string& out, const Value& v, const JsonOptions& o, int level);

static void json_newline(std::string& out, const JsonOptions& o, int level) {
  out += '\n';
  for (int k = 0; k < level; ++k) out += o.indent;
}

static void append_json_items(std::string& out, const Value& v, const JsonOptions& o, int level) {
  const Items& items = v.items();
  if (items.empty()) return void(out += "[]");
  out += '[';
  for (size_t k = 0; k < items.size(); ++k) {
    if (k) out += o.item_sep;
    if (o.indented) json_newline(out, o, level + 1);
    append_json(out, items[k], o, level + 1);
  }
  if (o.indented) json_newline(out, o, level);
  out += ']';
}

static void append_json_entries(std::string& out, const Value& v, const JsonOptions& o, int level) {
  std::vector<const std::pair<std::string, Value>*> entries;
  for (const auto& e : v.entries()) entries.push_back(&e);
  if (entries.empty()) return void(out += "{}");
  if (o.sort_keys)
    std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
  out += '{';
  for (size_t k = 0; k < entries.size(); ++k) {
    if (k) out += o.item_sep;
    if (o.indented) json_newline(out, o, level + 1);
    append_json_string(out, entries[k]->first, o.ensure_ascii);
    out += o.key_sep;
    append_json(out, entries[k]->second, o, level + 1);
  }
  if (o.indented) json_newline(out, o, level);
  out += '}';
}

static void append_json(std::string& out, const Value& v, const JsonOptions& o, int level) {
  RLVR_CHECK(out.size() <= o.max_size, "tojson: the output exceeds ", o.max_size, " bytes");
  switch (v.kind()) {
    case Kind::None: out += "null"; return;
    case Kind::Bool: out += v.b() ? "true" : "false"; return;
    case Kind::Int: out += std::to_string(v.i()); return;
    case Kind::Float: out += json_float(v.f()); return;
    case Kind::String: append_json_string(out, v.str(), o.ensure_ascii); return;
    case Kind::List:
      if (v.list_kind() != ListKind::Generator) return append_json_items(out, v, o, level);
      break;
    case Kind::Dict:
      if (!v.is_namespace()) return append_json_entries(out, v, o, level);
      break;
    default: break;
  }
  fail("tojson: Object of type ", kind_name(v), " is not JSON serializable");
}

std::string to_json(const Value& v, const JsonOptions& opt) {
  std::string out;
  append_json(out, v, opt, 0);
  return out;
}

Value from_json(const nlohmann::ordered_json& j) {
  using T = nlohmann::ordered_json::value_t;
  switch (j.type()) {
    case T::null: return Value::none();
    case T::boolean: return Value(j.get<bool>());
    case T::number_integer: return Value(j.get<int64_t>());
    case T::number_unsigned:
      if (j.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) return Value(j.get<int64_t>());
      return Value(j.get<double>());
    case T::number_float: return Value(j.get<double>());
    case T::string: return Value(j.get<std::string>());
    case T::array: {
      Items items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json(x));
      return Value::list(std::move(items));
    }
    case T::object: {
      Entries entries;
      entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) entries.emplace_back(it.key(), from_json(it.value()));
      return Value::dict(std::move(entries));
    }
    default: fail("a JSON value of this type (binary, discarded) cannot reach a template");
  }
}

}  // namespace rlvr::jinja
