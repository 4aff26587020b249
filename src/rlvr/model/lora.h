// AdaptedLinear: a linear layer (HF layout, weight (out, in)) that can carry a LoRA adapter
// (arXiv 2106.09685): y = x W^T + b + dropout(x) A^T B^T * alpha / r, B zero-initialised.
// Adapters can be switched off per call (the reference policy), merged and unmerged.
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <memory>
#include <vector>

#include "rlvr/model/quant_linear.h"

namespace rlvr {

struct LoraConfig {
  int64_t r = 16;         // rank
  double alpha = 16.0;    // scaling = alpha / r
  double dropout = 0.0;   // on the adapter's input, training only
  std::vector<std::string> target_modules = {"q_proj", "k_proj", "v_proj", "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};
  // PEFT adapter_config.json (what Python's peft writes and reads).
  nlohmann::json to_peft_json(const std::string& base_model) const;
  static LoraConfig from_peft_json(const nlohmann::json& j, const std::string& source);
};

class AdaptedLinearImpl : public torch::nn::Module {
 public:
  AdaptedLinearImpl(int64_t in_features, int64_t out_features, bool with_bias);
  // x: (..., in) -> (..., out). adapters_on=false gives the base layer's output.
  torch::Tensor forward(const torch::Tensor& x, bool adapters_on = true);
  // Adds lora_A (r, in) (Kaiming-uniform like PEFT) and lora_B (out, r) = 0, fp32 by default.
  void add_lora(int64_t r, double alpha, double dropout, torch::Dtype dtype);
  bool has_lora() const { return lora_A.defined(); }
  void merge();    // W += B A * scaling; forward then skips the adapter
  void unmerge();  // W -= B A * scaling
  bool merged() const { return merged_; }
  // QLoRA: replaces `weight` by its 4-bit codes (weight becomes undefined and the forward
  // dequantizes per call); merge() / unmerge() then refuse (merge from the unquantized base).
  void quantize(const Quant4bitOptions& o);
  void set_quantized(std::shared_ptr<const QuantizedWeight> q);  // codes loaded from a checkpoint
  bool quantized() const { return qweight != nullptr; }
  int64_t in_features() const { return quantized() ? qweight->in : weight.size(1); }
  int64_t out_features() const { return quantized() ? qweight->out : weight.size(0); }
  // Moves the 4-bit weight with the parameters (a dtype change leaves the codes as they are:
  // the forward dequantizes to the input's dtype).
  using torch::nn::Module::to;
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Device device, bool non_blocking = false) override;

  torch::Tensor weight;  // (out, in); undefined when quantized
  std::shared_ptr<const QuantizedWeight> qweight;  // the 4-bit weight, or null
  torch::Tensor bias;    // (out) or undefined
  torch::Tensor lora_A;  // (r, in) or undefined
  torch::Tensor lora_B;  // (out, r) or undefined

 private:
  void move_codes(torch::Device device, bool non_blocking);
  double scaling_ = 1.0;
  double dropout_ = 0.0;
  bool merged_ = false;
};
TORCH_MODULE(AdaptedLinear);

// Inverted dropout (drop with probability p, scale the rest by 1 / (1 - p)). On CPU the mask
// comes from a hash of a seed drawn from the default CPU generator and the element index, and
// backward recomputes it instead of storing it; other devices use torch::dropout.
torch::Tensor lora_dropout(const torch::Tensor& x, double p);

}  // namespace rlvr
