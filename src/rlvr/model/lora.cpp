// AdaptedLinear forward, LoRA init / merge / unmerge, and PEFT adapter_config.json mapping.
#include "rlvr/model/lora.h"

#include <cmath>

#include "rlvr/core/error.h"

namespace rlvr {

AdaptedLinearImpl::AdaptedLinearImpl(int64_t in, int64_t out, bool with_bias) {
  weight = register_parameter("weight", torch::zeros({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}));
}

void AdaptedLinearImpl::add_lora(int64_t r, double alpha, double dropout, torch::Dtype dtype) {
  RLVR_CHECK(r > 0, "lora_r must be positive (got ", r, ")");
  RLVR_CHECK(!merged_, "cannot add a LoRA adapter to a merged layer");
  const int64_t in = weight.size(1), out = weight.size(0);
  auto opts = torch::TensorOptions().dtype(dtype).device(weight.device());
  // PEFT: kaiming_uniform_(a=sqrt(5)) on A == U(-1/sqrt(in), 1/sqrt(in)); B = 0. Drawn from the
  // CPU generator in float32 whatever the layer's device, so a seed gives the same adapter on
  // CPU and on a GPU.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  auto a = torch::empty({r, in}, torch::kFloat32).uniform_(-bound, bound).to(opts);
  lora_A = register_parameter("lora_A", a);
  lora_B = register_parameter("lora_B", torch::zeros({out, r}, opts));
  scaling_ = alpha / static_cast<double>(r);
  dropout_ = dropout;
}

torch::Tensor AdaptedLinearImpl::forward(const torch::Tensor& x, bool adapters_on) {
  torch::Tensor y = torch::nn::functional::linear(x, weight, bias.defined() ? bias : torch::Tensor());
  if (!has_lora() || merged_ || !adapters_on) {
    if (merged_ && !adapters_on) {
      // Merged weights carry the adapter; take it back out for the base output.
      auto delta = torch::nn::functional::linear(x.to(lora_A.scalar_type()), lora_A);
      y = y - (torch::nn::functional::linear(delta, lora_B) * scaling_).to(y.scalar_type());
    }
    return y;
  }
  torch::Tensor h = x.to(lora_A.scalar_type());
  if (dropout_ > 0 && is_training()) h = torch::dropout(h, dropout_, true);
  h = torch::nn::functional::linear(torch::nn::functional::linear(h, lora_A), lora_B) * scaling_;
  return y + h.to(y.scalar_type());
}

void AdaptedLinearImpl::merge() {
  if (!has_lora() || merged_) return;
  torch::NoGradGuard ng;
  weight.add_((lora_B.matmul(lora_A) * scaling_).to(weight.scalar_type()));
  merged_ = true;
}

void AdaptedLinearImpl::unmerge() {
  if (!has_lora() || !merged_) return;
  torch::NoGradGuard ng;
  weight.sub_((lora_B.matmul(lora_A) * scaling_).to(weight.scalar_type()));
  merged_ = false;
}

nlohmann::json LoraConfig::to_peft_json(const std::string& base_model) const {
  return {{"peft_type", "LORA"},
          {"task_type", "CAUSAL_LM"},
          {"base_model_name_or_path", base_model},
          {"r", r},
          {"lora_alpha", alpha},
          {"lora_dropout", dropout},
          {"target_modules", target_modules},
          {"bias", "none"},
          {"fan_in_fan_out", false},
          {"inference_mode", true},
          {"init_lora_weights", true},
          {"use_rslora", false},
          {"use_dora", false},
          {"modules_to_save", nullptr},
          {"layers_to_transform", nullptr},
          {"revision", nullptr}};
}

LoraConfig LoraConfig::from_peft_json(const nlohmann::json& j, const std::string& src) {
  LoraConfig c;
  RLVR_CHECK(j.is_object(), src, ": must be a JSON object");
  if (j.contains("peft_type"))
    RLVR_CHECK(j["peft_type"] == "LORA", src, ": peft_type ", j["peft_type"].dump(),
               " is not supported (only LORA)");
  try {
    c.r = j.at("r").get<int64_t>();
    c.alpha = j.value("lora_alpha", static_cast<double>(c.r));
    c.dropout = j.value("lora_dropout", 0.0);
    if (j.contains("target_modules")) {
      if (j["target_modules"].is_string())
        c.target_modules = {j["target_modules"].get<std::string>()};
      else
        c.target_modules = j["target_modules"].get<std::vector<std::string>>();
    }
  } catch (const nlohmann::json::exception& e) {
    fail(src, ": bad adapter config (", e.what(), ")");
  }
  if (j.value("use_dora", false) || j.value("use_rslora", false))
    fail(src, ": DoRA / rsLoRA adapters are not supported");
  return c;
}

}  // namespace rlvr
