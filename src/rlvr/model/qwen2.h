// Qwen2ForCausalLM (and Llama, which differs only in biases and head tying) in libtorch, with
// HF transformers semantics: embeddings, RMSNorm, RoPE (rotate_half), GQA attention with q/k/v
// bias, SwiGLU MLP, tied or untied lm_head. Parameter names match HF checkpoints. The model knows
// nothing about sampling or RL: ids and positions in, hidden states / logits out.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "rlvr/model/config.h"
#include "rlvr/model/kv_cache.h"
#include "rlvr/model/lora.h"

namespace rlvr {

// Layout of a shared-prefix training forward (CausalLM::forward_hidden_shared_prefix): the hidden
// states are packed as (P + N*S, C), the prefix's P tokens first (positions 0..P-1, computed once),
// then N suffix rows of S tokens each (right-padded, positions >= P, -1 = padding).
struct SharedPrefixLayout {
  int64_t P = 0, N = 0, S = 0;
  torch::Tensor suffix_bias;  // (N, 1, S, S) additive mask of suffix keys per suffix query (model dtype)
  torch::Tensor prefix_bias;  // (P, P) additive causal mask of the prefix (model dtype)
};

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // (..., C), computed in float32 like HF
  torch::Tensor weight;                           // (C)
 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// self_attn: q/k/v/o projections and GQA attention over an optional KV cache.
class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& cfg);
  // x: (N, T, C); cos/sin: (N, 1, T, D); positions: (N, T) int64 (-1 = padding).
  // With a cache, new K/V go to slots [cache->used, +T) of layer `layer`.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& positions, KVCache* cache, int64_t layer,
                        bool adapters_on);
  // Shared-prefix training forward, no cache: x (P + N*S, C) packed as in `layout`, cos/sin
  // (P + N*S, 1, D). Prefix queries attend causally within the prefix; suffix queries attend to
  // every prefix key and to their own row's keys (bias), in one softmax. Returns (P + N*S, C).
  torch::Tensor forward_shared_prefix(const torch::Tensor& x, const torch::Tensor& cos,
                                      const torch::Tensor& sin, const SharedPrefixLayout& layout,
                                      bool adapters_on);
  AdaptedLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t H_, Hkv_, D_;
};
TORCH_MODULE(Attention);

// mlp: SwiGLU, down(silu(gate(x)) * up(x)).
class MLPImpl : public torch::nn::Module {
 public:
  explicit MLPImpl(const ModelConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x, bool adapters_on);  // (N, T, C) -> (N, T, C)
  AdaptedLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(MLP);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const ModelConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& positions, KVCache* cache, int64_t layer,
                        bool adapters_on);
  torch::Tensor forward_shared_prefix(const torch::Tensor& x, const torch::Tensor& cos,
                                      const torch::Tensor& sin, const SharedPrefixLayout& layout,
                                      bool adapters_on);
  Attention self_attn{nullptr};
  MLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(DecoderLayer);

// Token embedding table (V, C); a plain parameter so construction costs no random init.
class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t vocab, int64_t dim);
  torch::Tensor forward(const torch::Tensor& ids);  // (N, T) int64 -> (N, T, C)
  torch::Tensor weight;                             // (V, C)
};
TORCH_MODULE(Embedding);

// The "model." part of Qwen2ForCausalLM: embed_tokens, layers, norm.
class Qwen2BodyImpl : public torch::nn::Module {
 public:
  explicit Qwen2BodyImpl(const ModelConfig& cfg);
  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(Qwen2Body);

class CausalLMImpl : public torch::nn::Module {
 public:
  explicit CausalLMImpl(const ModelConfig& cfg);
  const ModelConfig& config() const { return cfg_; }

  // ids, positions: (N, T) int64; positions -1 marks padding (attends to nothing useful, is
  // attended by nothing). Without a cache this is the slow reference path: full recompute.
  // Returns final-norm hidden states (N, T, C). Advances cache->used by T.
  torch::Tensor forward_hidden(const torch::Tensor& ids, const torch::Tensor& positions,
                               KVCache* cache = nullptr);
  // Training forward of N sequences that all start with the same P tokens: prefix_ids (P) int64
  // holds them (positions 0..P-1), ids / positions (N, S) the rest of each row, right-padded
  // (positions >= P, -1 = padding). The prefix is computed once, as one row, and every suffix
  // token attends to its keys and values and to its own row's earlier tokens in one softmax, so
  // the result equals forward_hidden over the N full rows; gradients reach the prefix through
  // that sharing. No cache; honours gradient checkpointing and set_adapters_enabled. Returns the
  // final-norm hidden states of the suffix tokens, (N, S, C).
  torch::Tensor forward_hidden_shared_prefix(const torch::Tensor& prefix_ids, const torch::Tensor& ids,
                                             const torch::Tensor& positions);
  torch::Tensor logits(const torch::Tensor& hidden);  // (..., C) -> (..., V) in float32
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& positions,
                        KVCache* cache = nullptr) {
    return logits(forward_hidden(ids, positions, cache));
  }
  torch::Tensor lm_head_weight() const;  // (V, C): embed_tokens.weight when tied

  // LoRA: adds adapters to every target module of every layer and freezes the base.
  void add_lora(const LoraConfig& lora, uint64_t seed);
  bool has_lora() const { return lora_.has_value(); }
  const LoraConfig& lora_config() const;
  void set_adapters_enabled(bool on) { adapters_on_ = on; }
  bool adapters_enabled() const { return adapters_on_; }
  void merge_lora();
  void unmerge_lora();
  // Full fine-tuning: every base weight trainable (no adapters needed).
  void set_full_finetune(bool on);
  // Trainable parameters with their HF names.
  std::vector<std::pair<std::string, torch::Tensor>> trainable_parameters() const;
  // Adapter tensors with PEFT names (base_model.model.<module>.lora_A.weight).
  std::vector<std::pair<std::string, torch::Tensor>> adapter_state() const;
  // Base weights with HF names (no LoRA tensors; lm_head omitted when tied; 4-bit weights omitted:
  // see quantized_weights).
  std::vector<std::pair<std::string, torch::Tensor>> base_state() const;
  // QLoRA: quantizes every decoder Linear weight (q, k, v, o, gate, up, down) to 4 bits in place.
  void quantize_4bit(const Quant4bitOptions& o);
  bool is_4bit() const;
  // The 4-bit weights with their HF names (model.layers.N.self_attn.q_proj.weight).
  std::vector<std::pair<std::string, std::shared_ptr<const QuantizedWeight>>> quantized_weights() const;
  // Gradient checkpointing: recompute each layer in backward instead of keeping activations.
  void set_gradient_checkpointing(bool on) { checkpointing_ = on; }

  Qwen2Body model{nullptr};
  Embedding lm_head{nullptr};  // weight (V, C) when untied, else null

 private:
  ModelConfig cfg_;
  std::optional<LoraConfig> lora_;
  bool adapters_on_ = true;
  bool checkpointing_ = false;
};
TORCH_MODULE(CausalLM);

// Random init like HF (normal(0, initializer_range), zero biases, unit norms), deterministic.
CausalLM make_random_model(const ModelConfig& cfg, uint64_t seed);
// Loads config.json + safetensors from a HF model directory into `dtype` on `device`. With
// q4.enabled the decoder Linear weights are quantized at load, tensor by tensor from the mmap; a
// checkpoint saved in transformers' bitsandbytes 4-bit layout (config.json quantization_config)
// loads its stored codes and statistics as they are.
CausalLM load_model(const std::string& dir, torch::Dtype dtype, torch::Device device,
                    const Quant4bitOptions& q4 = {});
// Writes config.json + model.safetensors (HF layout, no LoRA tensors) in `dtype`; a 4-bit model's
// quantized weights in transformers' bitsandbytes layout with config.json quantization_config
// (rlvr/model/quant_checkpoint.h). `config`: the config.json to write, its torch_dtype (and dtype,
// when present) and quantization_config set to this model's; a checkpoint's own keeps the keys
// rlvr does not read. Null writes the model's ModelConfig.
void save_model(CausalLM& model, const std::string& dir, torch::Dtype dtype,
                nlohmann::json config = nullptr);
// PEFT adapter directory: adapter_config.json + adapter_model.safetensors.
void save_adapter(const CausalLM& model, const std::string& dir, const std::string& base_model);
// Loads a PEFT adapter directory (config and tensors), checking every shape: adds the LoRA when
// the model has none, else overwrites the existing adapter's weights (same r/alpha/targets).
void load_adapter(CausalLM& model, const std::string& dir);

torch::Dtype parse_dtype(const std::string& name);  // float32|fp32|bfloat16|bf16|float16|float64
// The one meaning of a dtype choice (--dtype, the recipe's dtype): a name parse_dtype knows, or
// "auto" = the dtype the checkpoint is stored in (config.json torch_dtype, as transformers'
// torch_dtype="auto"), except that a float16 checkpoint computes in float32 on CPU. An explicit
// float16 on CPU is an rlvr::Error (the CPU kernels do not run it).
torch::Dtype resolve_dtype(const std::string& choice, const ModelConfig& cfg, const torch::Device& dev);
std::string dtype_name(torch::Dtype dtype);

}  // namespace rlvr
