// write_byte_level_tokenizer: a merge-free byte-level BPE (256 byte tokens + ChatML specials)
// for tiny models, written as HF-compatible tokenizer.json + tokenizer_config.json.
#include <nlohmann/json.hpp>

#include "rlvr/core/files.h"
#include "rlvr/tokenizer/tokenizer.h"
#include "rlvr/tokenizer/utf8.h"

namespace rlvr {

void write_byte_level_tokenizer(const std::string& out_dir) {
  using json = nlohmann::json;
  make_dirs(out_dir);
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[utf8::byte_level_encode(std::string(1, static_cast<char>(b)))] = b;
  const char* specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  json added = json::array(), added_decoder = json::object();
  for (int i = 0; i < 3; ++i) {
    json t = {{"id", 256 + i},         {"content", specials[i]}, {"single_word", false},
              {"lstrip", false},       {"rstrip", false},        {"normalized", false},
              {"special", true}};
    added.push_back(t);
    t.erase("id");
    added_decoder[std::to_string(256 + i)] = t;
  }
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                     {"use_regex", false}};
  json tok = {{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", added},
              {"normalizer", nullptr},
              {"pre_tokenizer", byte_level},
              {"post_processor", nullptr},
              {"decoder", byte_level},
              {"model",
               {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
                {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab},
                {"merges", json::array()}}}};
  // ChatML without a default system prompt (short contexts of tiny models).
  std::string tmpl =
      "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + "
      "message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt "
      "%}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
  json config = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                 {"add_bos_token", false},
                 {"bos_token", nullptr},
                 {"eos_token", "<|im_end|>"},
                 {"pad_token", "<|endoftext|>"},
                 {"unk_token", nullptr},
                 {"clean_up_tokenization_spaces", false},
                 {"model_max_length", 1 << 20},
                 {"added_tokens_decoder", added_decoder},
                 {"chat_template", tmpl}};
  write_json_file(join_path(out_dir, "tokenizer.json"), tok);
  write_json_file(join_path(out_dir, "tokenizer_config.json"), config);
}

}  // namespace rlvr
