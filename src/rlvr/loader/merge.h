// `rlvr merge` (spec section 8): a PEFT LoRA adapter merged into the original weights of its
// base model, written as a full Hugging Face model directory that loads without the adapter.
#pragma once
#include <functional>
#include <string>

namespace rlvr {

struct MergeOptions {
  std::string base;            // the unquantized base model directory
  std::string adapter;         // PEFT adapter directory (adapter_config.json + adapter_model.safetensors)
  std::string out;             // the directory to write: new or empty
  std::string dtype = "auto";  // stored dtype: auto (the base's config.json torch_dtype) | float32 |
                               // bfloat16 | float16
};

// Checks the inputs (a base without quantization_config, the adapter folder, OUT neither holding
// files nor being BASE or the adapter), loads the base in float32 with the adapter (every shape
// checked), merges W += B A * alpha / r in float32 (CausalLM::merge_lora) and writes OUT:
// config.json (the base's, torch_dtype set), model.safetensors (no LoRA tensors) and the base's
// tokenizer files. Nothing is written before every check has passed. `say` gets the progress
// lines.
void merge_adapter(const MergeOptions& o, const std::function<void(const std::string&)>& say);

}  // namespace rlvr
