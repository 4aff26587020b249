// The tokenizer.json "normalizer": Unicode NFC/NFD/NFKC/NFKD through utf8proc, null, or a
// Sequence of those. Pure-ASCII input is returned untouched without calling utf8proc (every
// Unicode normal form of ASCII is itself). Invalid UTF-8 bytes pass through unchanged.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace rlvr {

class Normalizer {
 public:
  enum class Form { kNFC, kNFD, kNFKC, kNFKD };
  Normalizer() = default;  // identity
  // `spec` is the "normalizer" value (null, object); `where` names the file for errors.
  static Normalizer from_json(const nlohmann::json& spec, const std::string& where);

  bool is_identity() const { return forms_.empty(); }
  // Writes the normalized text to `out` and returns true, or returns false when `in` is
  // unchanged (the caller keeps using `in`).
  bool apply(std::string_view in, std::string& out) const;
  // The normalized text, always through utf8proc (the reference path for tests).
  std::string apply_always(std::string_view in) const;

 private:
  std::vector<Form> forms_;  // applied in order
};

// One Unicode normal form of (valid or invalid) UTF-8 text, without the ASCII shortcut.
std::string normalize_form(std::string_view in, Normalizer::Form form);

}  // namespace rlvr
