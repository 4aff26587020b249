// A model directory loaded for use: the Qwen2 model (with an optional PEFT adapter) on a device
// in a dtype, its tokenizer and the EOS ids generation stops at. The trainers' Policy extends
// it; the CLI commands use it as is.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "rlvr/model/qwen2.h"
#include "rlvr/tokenizer/tokenizer.h"

namespace rlvr {

struct LoadedModel {
  CausalLM model{nullptr};
  std::shared_ptr<const Tokenizer> tokenizer;  // null when the directory has no tokenizer.json
  torch::Dtype dtype = torch::kFloat32;
  torch::Device device{torch::kCPU};
  std::vector<int64_t> eos_ids;  // merge_eos_ids(config.json's, the tokenizer's)
  std::string dir;               // the model directory it was loaded from

  bool has_tokenizer() const { return tokenizer != nullptr; }
};

struct LoadOptions {
  std::string dtype = "auto";         // resolve_dtype's choice (model/qwen2.h)
  torch::Device device{torch::kCPU};
  std::string adapter;                // a PEFT LoRA adapter directory to apply ("" = none)
  Quant4bitOptions q4;                // quantize the decoder Linear weights at load (QLoRA)
  std::string tokenizer_needed_by;    // non-empty: a missing tokenizer.json is an error naming it
};

// Loads dir (config.json, *.safetensors, tokenizer.json when present) as `o` asks. A tokenizer
// whose ids do not all fit the model's embedding (vocab_size) is an error naming tokenizer.json.
LoadedModel load_model_dir(const std::string& dir, const LoadOptions& o);

// The ids that end a completion: config.json's EOS ids, then the tokenizer's that are not
// among them (tokenizer_config eos_token, generation_config), in that order.
std::vector<int64_t> merge_eos_ids(const std::vector<int64_t>& config_ids,
                                   const std::vector<int32_t>& tokenizer_ids);

}  // namespace rlvr
