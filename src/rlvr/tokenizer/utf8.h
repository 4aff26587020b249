// UTF-8 helpers for the tokenizer: validity checks, lossy decoding that replaces each maximal
// invalid subpart with U+FFFD (as Rust's String::from_utf8_lossy does), and the byte-level
// (GPT-2) byte <-> printable-character table. No normalization here (see normalizer.h).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rlvr::utf8 {

// True when every byte is < 0x80.
bool is_ascii(std::string_view s);
// Length of the valid UTF-8 sequence starting at s[i] (1..4), or 0 when s[i] starts an invalid one.
size_t valid_char_len(std::string_view s, size_t i);
bool is_valid(std::string_view s);
// Decodes the (valid) character at s[i]; advances i.
uint32_t decode_at(std::string_view s, size_t& i);
void append_codepoint(std::string& out, uint32_t cp);
// Unicode White_Space (what Rust's char::is_whitespace accepts).
bool is_whitespace(uint32_t cp);
// Alphanumeric (Unicode L* or N*) or '_': what single_word added tokens must not touch.
bool is_word_char(uint32_t cp);

// Appends `bytes` to `out` with each maximal invalid subpart replaced by U+FFFD.
// With stop_at_incomplete, a trailing truncated-but-valid prefix of a character is not
// consumed; the return value is the number of bytes consumed.
size_t append_lossy(std::string_view bytes, std::string& out, bool stop_at_incomplete = false);
inline std::string lossy(std::string_view bytes) {
  std::string out;
  append_lossy(bytes, out);
  return out;
}

// GPT-2 byte-level alphabet: byte b <-> one printable code point (e.g. 0x20 <-> U+0120 'Ġ').
struct ByteLevelTable {
  std::array<uint32_t, 256> byte_to_cp;
  std::array<int16_t, 324> cp_to_byte;  // -1 where a code point is not in the alphabet
};
const ByteLevelTable& byte_level_table();
// The byte-level spelling of raw bytes (each byte as its alphabet character).
std::string byte_level_encode(std::string_view bytes);
// Maps each character of a byte-level string back to its byte; false (out untouched beyond
// what was appended) when some character is outside the alphabet.
bool byte_level_decode(std::string_view s, std::string& out);

}  // namespace rlvr::utf8
