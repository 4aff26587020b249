// Internal state of rlvr::Tokenizer, shared by its .cpp files; not part of the public API.
// Everything is immutable after load except BpeModel's internally locked word cache.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlvr/tokenizer/added_tokens.h"
#include "rlvr/tokenizer/bpe.h"
#include "rlvr/tokenizer/normalizer.h"
#include "rlvr/tokenizer/pretokenizer.h"
#include "rlvr/tokenizer/tokenizer.h"

namespace rlvr {

struct Tokenizer::Impl {
  std::string path;  // tokenizer.json
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  std::unique_ptr<BpeModel> bpe;
  std::vector<AddedToken> added;
  AddedTokenMatcher raw_matcher;         // added tokens with normalized=false
  AddedTokenMatcher normalized_matcher;  // added tokens with normalized=true
  int32_t vocab_size = 0;
  std::vector<int32_t> added_index;  // (vocab_size) index into `added`, -1 for model tokens
  std::vector<std::string> added_bytes;  // decode bytes of each added token
  std::vector<int32_t> eos;
  int32_t pad = -1, bos = -1;

  // Appends the bytes of `id` (nothing for unknown ids or skipped specials).
  void append_bytes(int32_t id, bool skip_special, std::string& out) const;
};

// Reads tokenizer_config.json / generation_config.json in `dir` (when present) into `impl`.
void load_tokenizer_configs(const std::string& dir, const Tokenizer& tok, Tokenizer::Impl& impl);

}  // namespace rlvr
