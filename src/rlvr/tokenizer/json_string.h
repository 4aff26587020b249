// A fast reader for one JSON string literal (escapes, \u surrogate pairs), for the hot loops
// that parse tokenizer.json vocabularies and {"text": ...} lines without building a DOM.
// Anything unusual returns false so the caller can fall back to nlohmann::json.
#pragma once
#include <string>

namespace rlvr {

// `p` points at the opening quote; on success `out` holds the decoded string, `p` points past
// the closing quote. Fails on control characters, bad escapes or lone surrogates (not on
// invalid UTF-8 bytes: callers validate when they need to).
bool read_json_string(const char*& p, const char* end, std::string& out);

inline void skip_json_ws(const char*& p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
}

}  // namespace rlvr
