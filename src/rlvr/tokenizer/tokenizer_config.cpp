// tokenizer_config.json / generation_config.json: eos, pad and bos (the chat template is read by
// rlvr/chat).
#include <algorithm>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/tokenizer/tokenizer_impl.h"

namespace rlvr {

using json = nlohmann::json;

// A token given as "text", {"content": "text", ...} or null; nullopt for null/absent.
static std::optional<std::string> token_text(const json& v, const std::string& where,
                                             const char* key) {
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  fail(where, ": \"", key, "\" must be a string, an object with \"content\", or null");
}

static int32_t resolve(const Tokenizer& tok, const std::string& text, const std::string& where,
                       const char* key) {
  auto id = tok.token_to_id(text);
  RLVR_CHECK(id.has_value(), where, ": ", key, " '", text, "' is not a token of this tokenizer");
  return *id;
}

static std::vector<int32_t> id_list(const json& v, int32_t vocab, const std::string& where,
                                    const char* key) {
  std::vector<int32_t> out;
  if (v.is_null()) return out;
  auto one = [&](const json& x) {
    RLVR_CHECK(x.is_number_integer() && x.get<int64_t>() >= 0 && x.get<int64_t>() < vocab, where,
               ": \"", key, "\" must be token ids below ", vocab, ", got ", x.dump());
    out.push_back(x.get<int32_t>());
  };
  if (v.is_array()) {
    for (const auto& x : v) one(x);
  } else {
    one(v);
  }
  return out;
}

void load_tokenizer_configs(const std::string& dir, const Tokenizer& tok, Tokenizer::Impl& impl) {
  std::string tc_path = join_path(dir, "tokenizer_config.json");
  std::string gc_path = join_path(dir, "generation_config.json");
  json tc = file_exists(tc_path) ? read_json_file(tc_path) : json::object();
  json gc = file_exists(gc_path) ? read_json_file(gc_path) : json::object();
  RLVR_CHECK(tc.is_object(), tc_path, ": must hold a JSON object");
  RLVR_CHECK(gc.is_object(), gc_path, ": must hold a JSON object");

  if (auto eos = token_text(tc.value("eos_token", json()), tc_path, "eos_token"))
    impl.eos.push_back(resolve(tok, *eos, tc_path, "eos_token"));
  for (int32_t id : id_list(gc.value("eos_token_id", json()), impl.vocab_size, gc_path, "eos_token_id"))
    if (std::find(impl.eos.begin(), impl.eos.end(), id) == impl.eos.end()) impl.eos.push_back(id);

  // tokenizer_config decides when it names the key (null means none); else generation_config.
  auto pick = [&](const char* tc_key, const char* gc_key) -> int32_t {
    if (tc.contains(tc_key)) {
      auto text = token_text(tc[tc_key], tc_path, tc_key);
      return text ? resolve(tok, *text, tc_path, tc_key) : -1;
    }
    auto ids = id_list(gc.value(gc_key, json()), impl.vocab_size, gc_path, gc_key);
    return ids.empty() ? -1 : ids[0];
  };
  impl.pad = pick("pad_token", "pad_token_id");
  impl.bos = pick("bos_token", "bos_token_id");
}

}  // namespace rlvr
