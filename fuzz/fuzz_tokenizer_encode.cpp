// Fuzz target: the real Qwen2.5 tokenizer on arbitrary bytes. The fast encoder must give the ids
// of the reference path (encode_reference, the slow one tests bind it to), and decoding them must
// not fail. The tokenizer comes from $RLVR_FUZZ_TOKENIZER (a tokenizer.json or its folder;
// `make fuzz` and the replay test point it at ../shared/data/qwen-tokenizer).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "rlvr/tokenizer/tokenizer.h"

namespace {
const rlvr::Tokenizer& qwen() {
  static const rlvr::Tokenizer tok = [] {
    const char* path = std::getenv("RLVR_FUZZ_TOKENIZER");
    if (path == nullptr || *path == '\0') {
      std::fprintf(stderr, "fuzz_tokenizer_encode: set RLVR_FUZZ_TOKENIZER to a tokenizer.json\n");
      std::exit(2);
    }
    return rlvr::Tokenizer::load(path);
  }();
  return tok;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // the reference path is quadratic; long texts add nothing new
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto ids = qwen().encode(text);
  if (ids != qwen().encode_reference(text)) {
    std::fprintf(stderr, "fuzz_tokenizer_encode: encode and encode_reference differ\n");
    std::abort();
  }
  qwen().decode(ids);
  qwen().decode_bytes(ids, /*skip_special_tokens=*/true);
  return 0;
}
