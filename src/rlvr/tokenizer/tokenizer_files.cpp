// The tokenizer files that travel with a model directory (a merged or fully trained model).
#include "rlvr/core/files.h"
#include "rlvr/tokenizer/tokenizer.h"

namespace rlvr {

const std::vector<std::string>& tokenizer_file_names() {
  static const std::vector<std::string> names = {
      "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
      "merges.txt",     "chat_template.jinja",   "generation_config.json"};
  return names;
}

std::vector<std::string> copy_tokenizer_files(const std::string& from_dir, const std::string& to_dir) {
  std::vector<std::string> copied;
  for (const std::string& name : tokenizer_file_names()) {
    const std::string src = join_path(from_dir, name);
    if (!file_exists(src)) continue;
    copy_file(src, join_path(to_dir, name));
    copied.push_back(name);
  }
  return copied;
}

}  // namespace rlvr
