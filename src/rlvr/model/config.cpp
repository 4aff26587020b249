// HF config.json <-> ModelConfig, with one clear error per missing or inconsistent key.
#include "rlvr/model/config.h"

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr {

namespace {
template <typename T>
T need(const nlohmann::json& j, const char* key, const std::string& src) {
  RLVR_CHECK(j.contains(key), src, ": missing key '", key, "'");
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail(src, ": key '", key, "' has the wrong type (", j.at(key).dump(), ")");
  }
}
template <typename T>
T opt(const nlohmann::json& j, const char* key, T dflt, const std::string& src) {
  if (!j.contains(key) || j.at(key).is_null()) return dflt;
  return need<T>(j, key, src);
}
}  // namespace

ModelConfig ModelConfig::from_json(const nlohmann::json& j, const std::string& src) {
  RLVR_CHECK(j.is_object(), src, ": config must be a JSON object");
  ModelConfig c;
  c.model_type = opt<std::string>(j, "model_type", "qwen2", src);
  RLVR_CHECK(c.model_type == "qwen2" || c.model_type == "llama", src, ": model_type '",
             c.model_type, "' is not supported (supported: qwen2, llama)");
  c.hidden_size = need<int64_t>(j, "hidden_size", src);
  c.intermediate_size = need<int64_t>(j, "intermediate_size", src);
  c.num_hidden_layers = need<int64_t>(j, "num_hidden_layers", src);
  c.num_attention_heads = need<int64_t>(j, "num_attention_heads", src);
  c.num_key_value_heads = opt<int64_t>(j, "num_key_value_heads", c.num_attention_heads, src);
  c.vocab_size = need<int64_t>(j, "vocab_size", src);
  c.max_position_embeddings = opt<int64_t>(j, "max_position_embeddings", 32768, src);
  // transformers >= 5 writes RoPE settings as rope_parameters {rope_type, rope_theta}; older
  // versions write rope_theta and rope_scaling. Only plain (unscaled) RoPE is implemented.
  c.rope_theta = opt<double>(j, "rope_theta", 10000.0, src);
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    if (!j.contains(key) || j.at(key).is_null()) continue;
    const auto& rp = j.at(key);
    RLVR_CHECK(rp.is_object(), src, ": ", key, " must be an object");
    if (rp.contains("rope_theta") && !j.contains("rope_theta"))
      c.rope_theta = need<double>(rp, "rope_theta", src + " (" + key + ")");
    for (const char* type_key : {"rope_type", "type"}) {
      if (!rp.contains(type_key)) continue;
      const auto type = need<std::string>(rp, type_key, src + " (" + key + ")");
      RLVR_CHECK(type == "default", src, ": ", key, ".", type_key, " '", type,
                 "' is not supported (only default RoPE, without scaling)");
    }
  }
  c.rms_norm_eps = opt<double>(j, "rms_norm_eps", 1e-6, src);
  c.tie_word_embeddings = opt<bool>(j, "tie_word_embeddings", false, src);
  c.attention_bias = c.model_type == "qwen2" ? true : opt<bool>(j, "attention_bias", false, src);
  c.initializer_range = opt<double>(j, "initializer_range", 0.02, src);
  // transformers >= 5 names the stored dtype "dtype"; older versions "torch_dtype".
  c.torch_dtype = opt<std::string>(j, "torch_dtype", opt<std::string>(j, "dtype", "float32", src), src);
  c.bos_token_id = opt<int64_t>(j, "bos_token_id", -1, src);
  if (j.contains("eos_token_id") && !j["eos_token_id"].is_null()) {
    if (j["eos_token_id"].is_array())
      c.eos_token_ids = need<std::vector<int64_t>>(j, "eos_token_id", src);
    else
      c.eos_token_ids = {need<int64_t>(j, "eos_token_id", src)};
  }
  if (j.contains("hidden_act"))
    RLVR_CHECK(j["hidden_act"] == "silu", src, ": hidden_act ", j["hidden_act"].dump(),
               " is not supported (only silu)");
  RLVR_CHECK(c.hidden_size > 0 && c.num_attention_heads > 0 && c.num_hidden_layers > 0 &&
                 c.intermediate_size > 0 && c.vocab_size > 0,
             src, ": sizes must be positive");
  c.head_dim = opt<int64_t>(j, "head_dim", c.hidden_size / c.num_attention_heads, src);
  RLVR_CHECK(c.head_dim % 2 == 0, src, ": head_dim ", c.head_dim, " must be even for RoPE");
  RLVR_CHECK(c.num_key_value_heads > 0 && c.num_attention_heads % c.num_key_value_heads == 0, src,
             ": num_attention_heads (", c.num_attention_heads,
             ") must be a multiple of num_key_value_heads (", c.num_key_value_heads, ")");
  return c;
}

ModelConfig ModelConfig::load(const std::string& model_dir) {
  std::string path = is_directory(model_dir) ? join_path(model_dir, "config.json") : model_dir;
  RLVR_CHECK(file_exists(path), path, ": not found; pass a Hugging Face model directory");
  return from_json(read_json_file(path), path);
}

nlohmann::json ModelConfig::to_json() const {
  nlohmann::json j = {
      {"architectures", {model_type == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
      {"model_type", model_type},
      {"hidden_size", hidden_size},
      {"intermediate_size", intermediate_size},
      {"num_hidden_layers", num_hidden_layers},
      {"num_attention_heads", num_attention_heads},
      {"num_key_value_heads", num_key_value_heads},
      {"head_dim", head_dim},
      {"vocab_size", vocab_size},
      {"max_position_embeddings", max_position_embeddings},
      {"rope_theta", rope_theta},
      {"rms_norm_eps", rms_norm_eps},
      {"hidden_act", "silu"},
      {"tie_word_embeddings", tie_word_embeddings},
      {"initializer_range", initializer_range},
      {"torch_dtype", torch_dtype},
  };
  if (model_type == "llama") j["attention_bias"] = attention_bias;
  if (bos_token_id >= 0) j["bos_token_id"] = bos_token_id;
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids[0];
  if (eos_token_ids.size() > 1) j["eos_token_id"] = eos_token_ids;
  return j;
}

int64_t ModelConfig::num_parameters() const {
  const int64_t C = hidden_size, D = head_dim;
  int64_t attn = C * num_attention_heads * D * 2 + C * num_key_value_heads * D * 2;
  if (attention_bias) attn += num_attention_heads * D + 2 * num_key_value_heads * D;
  int64_t mlp = 3 * C * intermediate_size;
  int64_t layer = attn + mlp + 2 * C;
  int64_t total = vocab_size * C + num_hidden_layers * layer + C;
  if (!tie_word_embeddings) total += vocab_size * C;
  return total;
}

}  // namespace rlvr
