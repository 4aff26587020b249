// rlvr::Tokenizer: loads a Hugging Face tokenizer.json with a byte-level BPE model (Qwen2/2.5/3,
// GPT-2, Llama-3 style) plus tokenizer_config.json / generation_config.json, and encodes,
// decodes (also incrementally, see StreamDecoder). Chat prompts are rendered by the model's chat
// template (rlvr/chat), not here. Encoding never
// adds BOS/EOS (post_processor is ignored); callers add bos_id() themselves where a model wants it.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rlvr/tokenizer/added_tokens.h"

namespace rlvr {

class Tokenizer {
 public:
  // `path`: a tokenizer.json file or a folder holding one. tokenizer_config.json and
  // generation_config.json next to it are read when present. Errors name the file.
  static Tokenizer load(const std::string& path);

  // Token ids of `text`; added and special tokens written in the text become their ids.
  // Input that is not valid UTF-8 is accepted: invalid bytes become byte tokens.
  std::vector<int32_t> encode(const std::string& text) const;
  // The same ids by the slow obvious path (no cache, no ASCII shortcut, linear BPE); for tests.
  std::vector<int32_t> encode_reference(const std::string& text) const;
  // Text of `ids`; invalid UTF-8 becomes U+FFFD per maximal subpart (as HF decode does).
  // Ids outside the vocabulary are skipped, as HF does.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;
  // The raw bytes behind `ids` (no U+FFFD substitution).
  std::string decode_bytes(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  int32_t vocab_size() const;            // max id + 1 over vocab and added tokens
  std::vector<int32_t> eos_ids() const;  // tokenizer_config eos_token, then generation_config ids
  int32_t pad_id() const;                // -1 if none
  int32_t bos_id() const;                // -1 if none (Qwen: none)
  // Id of an added token's content or of a vocab entry in its byte-level spelling ("Ġthe").
  std::optional<int32_t> token_to_id(const std::string& tok) const;
  // Added-token content or byte-level spelling of `id`; nullopt when the id is unused.
  std::optional<std::string> id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;  // an added token marked "special"
  const std::vector<AddedToken>& added_tokens() const;

  const std::string& path() const;  // the tokenizer.json that was loaded
  void clear_cache() const;         // empties the per-word BPE cache (benchmarks)

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  friend class StreamDecoder;
  std::shared_ptr<const Impl> impl_;  // immutable after load except the locked word cache
};

// Incremental decoding: push() returns the text that is complete so far and holds back the bytes
// of a UTF-8 character that is still cut; the outputs of push() and flush() concatenate to
// decode(all ids). Keeps the tokenizer alive. One per sequence; not thread-safe itself.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special_tokens = false);
  std::string push(int32_t id);
  std::string flush();  // the held-back bytes (U+FFFD for a cut character); resets

 private:
  std::shared_ptr<const Tokenizer::Impl> impl_;
  bool skip_special_;
  std::string pending_;  // bytes of an incomplete character
};

// Token ids are int32 in the tokenizer and int64 (torch's index type) in the model and the
// engine; these three functions are the one place where the two meet. An int64 id outside the
// int32 range becomes -1, which decoding skips like any id outside the vocabulary.
std::vector<int64_t> to_model_ids(const std::vector<int32_t>& ids);
std::vector<int32_t> to_tokenizer_ids(const std::vector<int64_t>& ids);
int32_t to_tokenizer_id(int64_t id);

// Writes tokenizer.json + tokenizer_config.json for a byte-level tokenizer with no merges:
// ids 0..255 are the bytes, then <|endoftext|> 256, <|im_start|> 257, <|im_end|> 258 (eos).
void write_byte_level_tokenizer(const std::string& out_dir);

// The files of a Hugging Face model directory that belong to its tokenizer and generation
// settings: tokenizer.json, tokenizer_config.json, special_tokens_map.json, vocab.json,
// merges.txt, chat_template.jinja, generation_config.json.
const std::vector<std::string>& tokenizer_file_names();
// Copies those of them that `from_dir` holds into `to_dir` (which exists); returns the names copied.
std::vector<std::string> copy_tokenizer_files(const std::string& from_dir, const std::string& to_dir);

}  // namespace rlvr
