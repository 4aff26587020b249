// Model loading for the CLI: weights, optional adapters, tokenizer and EOS ids.
#include "cli_common.h"

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr::cli {

void add_model_flags(CLI::App* cmd, ModelFlags& f, bool with_adapter) {
  cmd->add_option("--model", f.dir, "HF model directory (config.json + *.safetensors)")->required();
  cmd->add_option("--dtype", f.dtype, "auto | float32 | bfloat16 (auto: the checkpoint's dtype)");
  cmd->add_option("--device", f.device, "cpu | cuda | cuda:N");
  if (with_adapter) cmd->add_option("--adapter", f.adapters, "PEFT LoRA adapter directory");
}

torch::Dtype resolve_dtype(const std::string& flag, const ModelConfig& cfg, const torch::Device& dev) {
  if (flag != "auto") return parse_dtype(flag);
  torch::Dtype d = parse_dtype(cfg.torch_dtype);
  if (d == torch::kFloat16 && dev.is_cpu()) d = torch::kFloat32;
  return d;
}

LoadedModel load_for_cli(const ModelFlags& f) {
  LoadedModel lm;
  torch::Device dev(f.device);
  RLVR_CHECK(!dev.is_cuda() || torch::cuda::is_available(),
             "--device ", f.device, ": CUDA is not available in this build/machine; use --device cpu");
  ModelConfig cfg = ModelConfig::load(f.dir);
  lm.dtype = resolve_dtype(f.dtype, cfg, dev);
  lm.model = load_model(f.dir, lm.dtype, dev);
  RLVR_CHECK(f.adapters.size() <= 1, "--adapter: one adapter at a time");
  for (const auto& a : f.adapters) {
    load_adapter(lm.model, a);
    lm.model->to(dev);
  }
  lm.model->eval();
  lm.eos_ids = cfg.eos_token_ids;
  return lm;
}

std::vector<int64_t> LoadedModel::encode(const std::string&, const std::string& what) const {
  fail(what, ": text prompts need a tokenizer.json in the model directory; use --prompt-ids");
}

std::function<std::string(const std::vector<int64_t>&)> LoadedModel::decoder() const {
  return nullptr;
}

std::function<void(int64_t, int64_t, int64_t)> LoadedModel::streamer(std::ostream&) const {
  return nullptr;
}

}  // namespace rlvr::cli
