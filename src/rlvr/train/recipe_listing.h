// Generic machinery behind the recipe listings (internal to train/recipe*.cpp): typed codecs
// between YAML nodes and struct members, a listing of {section, key, member, doc}, applying a
// YAML map with did-you-mean hints, and the type of the TRL keys accepted with a notice. The key
// lists themselves are in recipe.cpp.
#pragma once
#include <yaml-cpp/yaml.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "rlvr/core/error.h"
#include "rlvr/core/spelling.h"

namespace rlvr::recipe_detail {

// Thrown by codecs; turned into rlvr::Error naming the source and key by the listing.
struct BadValue {
  std::string expected;
};

// Enum names: specialised in recipe.cpp for each mode enum.
template <class E>
const std::vector<std::pair<std::string, E>>& enum_names();

template <class T, class Enable = void>
struct Codec;

template <>
struct Codec<int64_t> {
  static std::string type() { return "integer"; }
  static int64_t decode(const YAML::Node& n);
  static nlohmann::json encode(int64_t v) { return v; }
};
template <>
struct Codec<double> {
  static std::string type() { return "number"; }
  static double decode(const YAML::Node& n);
  static nlohmann::json encode(double v) { return v; }
};
template <>
struct Codec<bool> {
  static std::string type() { return "boolean"; }
  static bool decode(const YAML::Node& n);
  static nlohmann::json encode(bool v) { return v; }
};
template <>
struct Codec<std::string> {
  static std::string type() { return "string"; }
  static std::string decode(const YAML::Node& n);  // null reads as ""
  static nlohmann::json encode(const std::string& v) { return v; }
};
// A free-form YAML mapping (e.g. reward_options), kept as JSON.
template <>
struct Codec<nlohmann::json> {
  static std::string type() { return "mapping"; }
  static nlohmann::json decode(const YAML::Node& n);  // null reads as {}
  static nlohmann::json encode(const nlohmann::json& v) { return v; }
};
template <class T>
struct Codec<std::optional<T>> {
  static std::string type() { return Codec<T>::type() + " or null"; }
  static std::optional<T> decode(const YAML::Node& n) {
    if (!n.IsDefined() || n.IsNull()) return std::nullopt;
    return Codec<T>::decode(n);
  }
  static nlohmann::json encode(const std::optional<T>& v) {
    return v ? Codec<T>::encode(*v) : nlohmann::json();
  }
};
template <class T>
struct Codec<std::vector<T>> {
  static std::string type() { return "list of " + Codec<T>::type() + "s"; }
  // null -> empty list; a single scalar -> a one-element list.
  static std::vector<T> decode(const YAML::Node& n) {
    if (!n.IsDefined() || n.IsNull()) return {};
    if (n.IsScalar()) return {Codec<T>::decode(n)};
    if (!n.IsSequence()) throw BadValue{type()};
    std::vector<T> out;
    for (const auto& item : n) {
      try {
        out.push_back(Codec<T>::decode(item));
      } catch (const BadValue&) {
        throw BadValue{type()};
      }
    }
    return out;
  }
  static nlohmann::json encode(const std::vector<T>& v) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& x : v) j.push_back(Codec<T>::encode(x));
    return j;
  }
};
template <class E>
struct Codec<E, std::enable_if_t<std::is_enum<E>::value>> {
  static std::string type() {
    std::string t = "one of ";
    for (const auto& [name, value] : enum_names<E>()) t += (t.size() > 7 ? "|" : "") + name;
    return t;
  }
  static E decode(const YAML::Node& n) {
    if (n.IsScalar())
      for (const auto& [name, value] : enum_names<E>())
        if (n.Scalar() == name) return value;
    throw BadValue{type()};
  }
  static nlohmann::json encode(E v) {
    for (const auto& [name, value] : enum_names<E>())
      if (value == v) return name;
    return nullptr;
  }
};

template <class S>
struct Field {
  std::string section;  // docs/recipe.md heading
  std::string key;
  std::vector<std::string> aliases;
  std::string type;
  std::string doc;
  std::function<void(S&, const YAML::Node&)> set;  // throws BadValue
  std::function<nlohmann::json(const S&)> get;
};

// One struct's listing: the single source of truth for its keys and their documentation.
template <class S>
class Listing {
 public:
  // Keys added after this call are documented under `title`.
  Listing& section(const char* title) {
    section_ = title;
    return *this;
  }
  template <class T, class Base>
  Listing& add(const char* key, T Base::*member, const char* doc,
               std::vector<std::string> aliases = {}) {
    static_assert(std::is_base_of<Base, S>::value, "member of an unrelated struct");
    Field<S> f;
    f.section = section_;
    f.key = key;
    f.aliases = std::move(aliases);
    f.type = Codec<T>::type();
    f.doc = doc;
    f.set = [member](S& s, const YAML::Node& n) { s.*member = Codec<T>::decode(n); };
    f.get = [member](const S& s) { return Codec<T>::encode(s.*member); };
    fields_.push_back(std::move(f));
    return *this;
  }
  const std::vector<Field<S>>& fields() const { return fields_; }
  const Field<S>* find(const std::string& key) const {
    for (const auto& f : fields_) {
      if (f.key == key) return &f;
      for (const auto& a : f.aliases)
        if (a == key) return &f;
    }
    return nullptr;
  }

 private:
  std::string section_;
  std::vector<Field<S>> fields_;
};

// A TRL key rlvr does not use. `allowed` empty: any value is accepted with a notice; otherwise
// only these values (YAML scalars, compared as numbers, booleans or text) are, and others are an
// error because ignoring them would silently change training.
struct ForeignKey {
  std::string key;  // exact name, or a prefix when it ends with '*'
  std::vector<std::string> allowed;
  std::string reason;  // why rlvr does not need it / what to use instead
};
// Every TRL key rlvr accepts without using it (recipe.cpp).
const std::vector<ForeignKey>& foreign_keys();
const ForeignKey* find_foreign(const std::vector<ForeignKey>& table, const std::string& key);
bool foreign_value_allowed(const ForeignKey& fk, const YAML::Node& value);

// "file:LINE" for a node with a position, else the source alone.
std::string where(const std::string& source, const YAML::Node& node);
// "'text'", "a list", "a map" or "null": how a bad value is quoted in errors.
std::string describe(const YAML::Node& node);
// Parses YAML text; malformed input throws rlvr::Error "source:LINE: malformed YAML: ...".
YAML::Node parse_yaml(const std::string& text, const std::string& source);

// Every name a key could have been meant as: listing keys, aliases and exact foreign keys.
template <class S>
std::vector<std::string> all_names(const Listing<S>& listing,
                                   const std::vector<ForeignKey>& foreign) {
  std::vector<std::string> names;
  for (const auto& f : listing.fields()) {
    names.push_back(f.key);
    names.insert(names.end(), f.aliases.begin(), f.aliases.end());
  }
  for (const auto& fk : foreign)
    if (fk.key.empty() || fk.key.back() != '*') names.push_back(fk.key);
  return names;
}

// Applies one key to `s`: a listing key or alias, a foreign key (notice), or an error.
// `at` is "file:LINE" or "--set"; `seen` (canonical keys of this source) catches keys given twice.
template <class S>
void apply_key(const Listing<S>& listing, const std::vector<ForeignKey>& foreign,
               const std::string& key, const YAML::Node& value, const std::string& at, S& s,
               std::vector<std::string>* notices, std::vector<std::string>* seen) {
  if (const Field<S>* f = listing.find(key)) {
    for (const auto& k : *seen)
      RLVR_CHECK(k != f->key, at, ": key '", key, "' sets '", f->key,
                 "', which is already set in this recipe");
    seen->push_back(f->key);
    try {
      f->set(s, value);
    } catch (const BadValue& e) {
      fail(at, ": key '", key, "' expects ", e.expected, ", got ", describe(value));
    }
    return;
  }
  if (const ForeignKey* fk = find_foreign(foreign, key)) {
    RLVR_CHECK(foreign_value_allowed(*fk, value), at, ": key '", key, "' = ", describe(value),
               " is not supported by rlvr (", fk->reason, "); remove it or set it to ",
               fk->allowed.front());
    if (notices) notices->push_back(at + ": TRL key '" + key + "' ignored: " + fk->reason);
    return;
  }
  std::string hint = closest_name(key, all_names(listing, foreign));
  fail(at, ": unknown key '", key, "'",
       hint.empty() ? std::string() : " (did you mean '" + hint + "'?)",
       "; docs/recipe.md lists every key");
}

}  // namespace rlvr::recipe_detail
