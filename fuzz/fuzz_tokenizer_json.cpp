// Fuzz target: loading a tokenizer.json (tokenizer/tokenizer_json.*, the BPE model, the
// pre-tokenizer and normalizer settings, added tokens), then encoding and decoding with it. A
// malformed file must be refused with rlvr::Error; a loaded one must encode and decode any text.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_input.h"
#include "rlvr/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = rlvr::fuzz::scratch_subdir("tok");
  rlvr::fuzz::as_file(data, size, "tok/tokenizer.json");
  rlvr::fuzz::refusal_ok([&] {
    const rlvr::Tokenizer tok = rlvr::Tokenizer::load(dir);
    const std::string text = "Hello, world! 123 \xe4\xbd\xa0\xe5\xa5\xbd <|im_end|>\n\n  x";
    const auto ids = tok.encode(text);
    tok.decode(ids);
    tok.decode(ids, /*skip_special_tokens=*/true);
  });
  return 0;
}
