// Codecs and helpers for the recipe listings (see recipe_listing.h): strict scalar parsing,
// did-you-mean, YAML error positions. The key lists themselves live in recipe.cpp.
#include "rlvr/train/recipe_listing.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "rlvr/core/error.h"

namespace rlvr::recipe_detail {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// YAML 1.1 booleans as yaml-cpp reads them; nullopt when the text is not one.
std::optional<bool> parse_bool(const std::string& text) {
  const std::string t = lower(text);
  if (t == "true" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "no" || t == "off") return false;
  return std::nullopt;
}

std::optional<double> parse_number(const std::string& text) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text.front()))) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

int64_t Codec<int64_t>::decode(const YAML::Node& n) {
  if (!n.IsScalar() || n.Scalar().empty()) throw BadValue{type()};
  const std::string& t = n.Scalar();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(t.c_str(), &end, 10);
  if (errno != 0 || end != t.c_str() + t.size() ||
      std::isspace(static_cast<unsigned char>(t.front())))
    throw BadValue{type()};
  return static_cast<int64_t>(v);
}

double Codec<double>::decode(const YAML::Node& n) {
  if (!n.IsScalar()) throw BadValue{type()};
  auto v = parse_number(n.Scalar());
  if (!v) throw BadValue{type()};
  return *v;
}

bool Codec<bool>::decode(const YAML::Node& n) {
  if (!n.IsScalar()) throw BadValue{type()};
  auto v = parse_bool(n.Scalar());
  if (!v) throw BadValue{type()};
  return *v;
}

std::string Codec<std::string>::decode(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "";
  if (!n.IsScalar()) throw BadValue{type()};
  return n.Scalar();
}

const ForeignKey* find_foreign(const std::vector<ForeignKey>& table, const std::string& key) {
  for (const auto& fk : table) {
    if (!fk.key.empty() && fk.key.back() == '*') {
      if (key.compare(0, fk.key.size() - 1, fk.key, 0, fk.key.size() - 1) == 0) return &fk;
    } else if (fk.key == key) {
      return &fk;
    }
  }
  return nullptr;
}

bool foreign_value_allowed(const ForeignKey& fk, const YAML::Node& value) {
  if (fk.allowed.empty()) return true;
  const bool is_null = !value.IsDefined() || value.IsNull();
  if (!is_null && !value.IsScalar()) return false;
  for (const auto& a : fk.allowed) {
    if (a == "null") {
      if (is_null) return true;
      continue;
    }
    if (is_null) continue;
    const std::string& t = value.Scalar();
    if (t == a) return true;
    auto na = parse_number(a), nt = parse_number(t);
    if (na && nt && *na == *nt) return true;
    auto ba = parse_bool(a), bt = parse_bool(t);
    if (ba && bt && *ba == *bt) return true;
  }
  return false;
}

std::string where(const std::string& source, const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  if (m.line < 0) return source;
  return source + ":" + std::to_string(m.line + 1);
}

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "null";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a map";
  return "'" + node.Scalar() + "'";
}

YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    fail(source, ":", e.mark.line + 1, ": malformed YAML: ", e.msg);
  }
}

namespace {
nlohmann::json yaml_to_json(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return nullptr;
  if (n.IsSequence()) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : n) a.push_back(yaml_to_json(e));
    return a;
  }
  if (n.IsMap()) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    return o;
  }
  const std::string s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted: always a string
  bool b;
  if (YAML::convert<bool>::decode(n, b) && s != "y" && s != "n") return b;
  int64_t i;
  if (YAML::convert<int64_t>::decode(n, i)) return i;
  double d;
  if (YAML::convert<double>::decode(n, d)) return d;
  return s;
}
}  // namespace

nlohmann::json Codec<nlohmann::json>::decode(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return nlohmann::json::object();
  if (!n.IsMap()) throw BadValue{type()};
  return yaml_to_json(n);
}

}  // namespace rlvr::recipe_detail
