// HF config.json <-> ModelConfig, with one clear error per missing or inconsistent key.
#include "rlvr/model/config.h"

#include <cstdint>
#include <type_traits>
#include <utility>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr {

namespace {
using nlohmann::json;

// A JSON integer that fits int64_t: 4.5, true, "4" and 1e20 are not counts or ids.
bool is_int64(const json& v) {
  return v.is_number_integer() &&
         (!v.is_number_unsigned() || v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX));
}

template <typename T>
T need(const json& j, const char* key, const std::string& src) {
  RLVR_CHECK(j.contains(key), src, ": missing key '", key, "'");
  const json& v = j.at(key);
  if constexpr (std::is_same_v<T, int64_t>)
    RLVR_CHECK(is_int64(v), src, ": key '", key, "' must be a whole number, got ", v.dump());
  try {
    return v.get<T>();
  } catch (const json::exception&) {
    fail(src, ": key '", key, "' has the wrong type (", v.dump(), ")");
  }
}
template <typename T>
T opt(const json& j, const char* key, T dflt, const std::string& src) {
  if (!j.contains(key) || j.at(key).is_null()) return dflt;
  return need<T>(j, key, src);
}

// transformers >= 5 writes RoPE settings as rope_parameters {rope_type, rope_theta}; older
// versions write rope_theta and rope_scaling. Only plain (unscaled) RoPE is implemented.
double parse_rope_theta(const json& j, const std::string& src) {
  double theta = opt<double>(j, "rope_theta", 10000.0, src);
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    if (!j.contains(key) || j.at(key).is_null()) continue;
    const auto& rp = j.at(key);
    RLVR_CHECK(rp.is_object(), src, ": ", key, " must be an object");
    if (rp.contains("rope_theta") && !j.contains("rope_theta"))
      theta = need<double>(rp, "rope_theta", src + " (" + key + ")");
    for (const char* type_key : {"rope_type", "type"}) {
      if (!rp.contains(type_key)) continue;
      const auto type = need<std::string>(rp, type_key, src + " (" + key + ")");
      RLVR_CHECK(type == "default", src, ": ", key, ".", type_key, " '", type,
                 "' is not supported (only default RoPE, without scaling)");
    }
  }
  return theta;
}

// eos_token_id: one id or a list of ids, each a token of the vocabulary.
std::vector<int64_t> eos_ids(const json& j, int64_t vocab_size, const std::string& src) {
  if (!j.contains("eos_token_id") || j["eos_token_id"].is_null()) return {};
  const json& v = j["eos_token_id"];
  std::vector<int64_t> ids;
  for (const json& id : v.is_array() ? v : json::array({v})) {
    RLVR_CHECK(is_int64(id), src, ": key 'eos_token_id' must be a token id or a list of them, got ", v.dump());
    ids.push_back(id.get<int64_t>());
    RLVR_CHECK(ids.back() >= 0 && ids.back() < vocab_size, src, ": eos_token_id ", ids.back(),
               " is outside the vocabulary (vocab_size ", vocab_size, "); use an id below ", vocab_size);
  }
  return ids;
}

// The parameter count in N's arithmetic: int64_t for reporting, double for the absurdity check,
// where products of absurd sizes cannot overflow.
template <typename N>
N parameter_count(const ModelConfig& c) {
  const N C = c.hidden_size, D = c.head_dim, H = c.num_attention_heads, Hkv = c.num_key_value_heads;
  const N V = c.vocab_size;
  N attn = C * H * D * 2 + C * Hkv * D * 2;
  if (c.attention_bias) attn += H * D + 2 * Hkv * D;
  const N mlp = 3 * C * c.intermediate_size;
  const N layer = attn + mlp + 2 * C;
  N total = V * C + c.num_hidden_layers * layer + C;
  if (!c.tie_word_embeddings) total += V * C;
  return total;
}

// The sizes every tensor shape is made of: positive, consistent, and of a model that can exist.
void check_sizes(const ModelConfig& c, const std::string& src) {
  RLVR_CHECK(c.head_dim > 0 && c.head_dim % 2 == 0, src, ": head_dim ", c.head_dim,
             " must be positive and even for RoPE (default hidden_size / num_attention_heads)");
  RLVR_CHECK(c.num_key_value_heads > 0 && c.num_attention_heads % c.num_key_value_heads == 0, src,
             ": num_attention_heads (", c.num_attention_heads,
             ") must be a multiple of num_key_value_heads (", c.num_key_value_heads, ")");
  constexpr double kMaxParameters = 1099511627776.0;  // 2^40: beyond any model there is
  const double n = parameter_count<double>(c);
  RLVR_CHECK(n <= kMaxParameters, src, ": the sizes imply ", n, " parameters (hidden_size ", c.hidden_size,
             ", intermediate_size ", c.intermediate_size, ", num_hidden_layers ", c.num_hidden_layers,
             ", num_attention_heads ", c.num_attention_heads, ", head_dim ", c.head_dim, ", vocab_size ",
             c.vocab_size, "), more than 2^40, which no model has; fix the size that is wrong");
}

// The dtype names transformers writes for bnb_4bit_compute_dtype (str(torch.dtype) after "torch.").
bool is_float_dtype_name(const std::string& s) {
  return s == "float32" || s == "bfloat16" || s == "float16" || s == "float64";
}

// quantization_config (transformers' BitsAndBytesConfig.to_dict; "_load_in_4bit" is the
// attribute behind the load_in_4bit property and is written too). Only bitsandbytes 4-bit with
// uint8 storage is a layout rlvr reads.
BnbQuantization parse_quantization(const json& q, const std::string& src) {
  const std::string where = src + ": quantization_config";
  RLVR_CHECK(q.is_object(), where, " must be an object");
  const auto method = opt<std::string>(q, "quant_method", "", where);
  RLVR_CHECK(method == "bitsandbytes", where, ".quant_method '", method,
             "' is not supported; rlvr reads bitsandbytes 4-bit checkpoints only (or load the unquantized model)");
  const bool in8 = opt<bool>(q, "load_in_8bit", opt<bool>(q, "_load_in_8bit", false, where), where);
  RLVR_CHECK(!in8, where, ".load_in_8bit is true: 8-bit (LLM.int8) checkpoints are not supported; use a 4-bit "
             "or an unquantized checkpoint");
  const bool in4 = opt<bool>(q, "load_in_4bit", opt<bool>(q, "_load_in_4bit", false, where), where);
  RLVR_CHECK(in4, where, ".load_in_4bit must be true (a bitsandbytes checkpoint that is not 4-bit)");
  const auto storage = opt<std::string>(q, "bnb_4bit_quant_storage", "uint8", where);
  RLVR_CHECK(storage == "uint8", where, ".bnb_4bit_quant_storage '", storage,
             "' is not supported; rlvr reads 4-bit codes stored as uint8 (bitsandbytes' default)");
  BnbQuantization b;
  const auto type = opt<std::string>(q, "bnb_4bit_quant_type", "fp4", where);
  RLVR_CHECK(type == "nf4" || type == "fp4", where, ".bnb_4bit_quant_type '", type, "' is unknown; use nf4 or fp4");
  b.quant_type = quant::parse_quant_type(type);
  b.double_quant = opt<bool>(q, "bnb_4bit_use_double_quant", false, where);
  b.compute_dtype = opt<std::string>(q, "bnb_4bit_compute_dtype", "float32", where);
  RLVR_CHECK(is_float_dtype_name(b.compute_dtype), where, ".bnb_4bit_compute_dtype '", b.compute_dtype,
             "' is not a floating-point dtype (float32, bfloat16, float16)");
  b.skip_modules = opt<std::vector<std::string>>(q, "llm_int8_skip_modules", {}, where);
  b.int8_threshold = opt<double>(q, "llm_int8_threshold", 6.0, where);
  return b;
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
  c.rope_theta = parse_rope_theta(j, src);
  c.rms_norm_eps = opt<double>(j, "rms_norm_eps", 1e-6, src);
  c.tie_word_embeddings = opt<bool>(j, "tie_word_embeddings", false, src);
  c.attention_bias = c.model_type == "qwen2" ? true : opt<bool>(j, "attention_bias", false, src);
  c.initializer_range = opt<double>(j, "initializer_range", 0.02, src);
  // transformers >= 5 names the stored dtype "dtype"; older versions "torch_dtype".
  c.torch_dtype = opt<std::string>(j, "torch_dtype", opt<std::string>(j, "dtype", "float32", src), src);
  c.bos_token_id = opt<int64_t>(j, "bos_token_id", -1, src);
  if (j.contains("hidden_act"))
    RLVR_CHECK(j["hidden_act"] == "silu", src, ": hidden_act ", j["hidden_act"].dump(),
               " is not supported (only silu)");
  const std::pair<const char*, int64_t> counts[] = {
      {"hidden_size", c.hidden_size}, {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_hidden_layers}, {"num_attention_heads", c.num_attention_heads},
      {"vocab_size", c.vocab_size}};
  for (const auto& [key, v] : counts) RLVR_CHECK(v > 0, src, ": ", key, " must be positive, got ", v);
  c.head_dim = opt<int64_t>(j, "head_dim", c.hidden_size / c.num_attention_heads, src);
  check_sizes(c, src);
  c.eos_token_ids = eos_ids(j, c.vocab_size, src);
  if (j.contains("quantization_config") && !j.at("quantization_config").is_null())
    c.quantization = parse_quantization(j.at("quantization_config"), src);
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
  if (quantization) j["quantization_config"] = quantization->to_json();
  return j;
}

nlohmann::json BnbQuantization::to_json() const {
  return {{"quant_method", "bitsandbytes"},
          {"_load_in_4bit", true},
          {"_load_in_8bit", false},
          {"load_in_4bit", true},
          {"load_in_8bit", false},
          {"bnb_4bit_quant_type", quant::quant_type_name(quant_type)},
          {"bnb_4bit_use_double_quant", double_quant},
          {"bnb_4bit_compute_dtype", compute_dtype},
          {"bnb_4bit_quant_storage", "uint8"},
          {"llm_int8_threshold", int8_threshold},
          {"llm_int8_skip_modules", skip_modules.empty() ? nlohmann::json(nullptr) : nlohmann::json(skip_modules)},
          {"llm_int8_enable_fp32_cpu_offload", false},
          {"llm_int8_has_fp16_weight", false}};
}

int64_t ModelConfig::num_parameters() const { return parameter_count<int64_t>(*this); }

}  // namespace rlvr
