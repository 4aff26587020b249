// JSON-lines adapters behind `rlvr tokenize`: {"text": ...} lines -> {"ids": [...]} lines and
// back. Kept in the library (not tools/) so tests and benchmarks run them without the CLI.
#pragma once
#include <functional>
#include <string>
#include <string_view>

#include "rlvr/tokenizer/tokenizer.h"

namespace rlvr {

// Called with a chunk of output whenever ~1 MiB is ready, and at the end.
using JsonlSink = std::function<void(std::string_view)>;

// Converts every non-blank line of `in`, in order. A malformed line throws rlvr::Error
// "<source> line N: ..." after the lines before it were passed to `sink`.
void encode_jsonl(const Tokenizer& tok, std::string_view in, const JsonlSink& sink,
                  const std::string& source = "stdin");
void decode_jsonl(const Tokenizer& tok, std::string_view in, const JsonlSink& sink,
                  const std::string& source = "stdin");

}  // namespace rlvr
