// ModelConfig: the hyper-parameters of a Qwen2 / Llama decoder, read only from a checkpoint's
// HF config.json (Qwen2 has q/k/v biases; Llama has none unless attention_bias is set).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "rlvr/quant/quant.h"

namespace rlvr {

// config.json `quantization_config` of a checkpoint saved in transformers' bitsandbytes 4-bit
// layout (BitsAndBytesConfig.to_dict): the keys rlvr reads. Other methods, 8-bit and a quant
// storage other than uint8 are refused when parsing.
struct BnbQuantization {
  quant::QuantType quant_type = quant::QuantType::fp4;  // bnb_4bit_quant_type (transformers' default fp4)
  bool double_quant = false;                 // bnb_4bit_use_double_quant
  std::string compute_dtype = "float32";     // bnb_4bit_compute_dtype (rlvr computes in the model dtype)
  std::vector<std::string> skip_modules;     // llm_int8_skip_modules (kept as read; null when empty)
  double int8_threshold = 6.0;               // llm_int8_threshold (unused by 4-bit; kept as read)
  // The dict transformers writes: every key of BitsAndBytesConfig.to_dict.
  nlohmann::json to_json() const;
};

struct ModelConfig {
  std::string model_type = "qwen2";    // qwen2 | llama
  int64_t hidden_size = 0;             // C
  int64_t intermediate_size = 0;       // SwiGLU width
  int64_t num_hidden_layers = 0;       // L
  int64_t num_attention_heads = 0;     // H
  int64_t num_key_value_heads = 0;     // Hkv (GQA when < H)
  int64_t head_dim = 0;                // D (defaults to C / H)
  int64_t vocab_size = 0;              // V
  int64_t max_position_embeddings = 32768;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;    // lm_head shares embed_tokens
  bool attention_bias = true;          // q/k/v biases (Qwen2: always)
  double initializer_range = 0.02;     // std of random init
  std::string torch_dtype = "float32";
  std::vector<int64_t> eos_token_ids;  // from config.json (int or list)
  int64_t bos_token_id = -1;
  std::optional<BnbQuantization> quantization;  // quantization_config: a 4-bit checkpoint

  // Parses and validates; errors name `source` (the file) and the key. Counts and ids are whole
  // numbers, sizes positive and of a model that can exist (at most 2^40 parameters), EOS ids
  // inside the vocabulary. Whether the sizes match the weights is load_model's check.
  static ModelConfig from_json(const nlohmann::json& j, const std::string& source);
  static ModelConfig load(const std::string& model_dir);
  nlohmann::json to_json() const;
  int64_t num_parameters() const;
};

}  // namespace rlvr
