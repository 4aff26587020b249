// Model loading for the CLI: weights, optional adapters, tokenizer and EOS ids.
#include "cli_common.h"

#include <algorithm>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/tokenizer/tokenizer.h"

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
  if (file_exists(join_path(f.dir, "tokenizer.json"))) {
    lm.tokenizer = std::make_shared<const Tokenizer>(Tokenizer::load(f.dir));
    for (int32_t id : lm.tokenizer->eos_ids())
      if (std::find(lm.eos_ids.begin(), lm.eos_ids.end(), id) == lm.eos_ids.end()) lm.eos_ids.push_back(id);
  }
  return lm;
}

std::vector<int64_t> LoadedModel::encode(const std::string& text, const std::string& what) const {
  RLVR_CHECK(tokenizer, what, ": text prompts need a tokenizer.json in the model directory; use --prompt-ids");
  auto ids = tokenizer->encode(text);
  return {ids.begin(), ids.end()};
}

std::function<void(int64_t, int64_t, int64_t)> LoadedModel::streamer(std::ostream& os) const {
  if (!tokenizer) return nullptr;
  auto dec = std::make_shared<StreamDecoder>(*tokenizer, /*skip_special_tokens=*/true);
  return [dec, &os](int64_t prompt, int64_t completion, int64_t id) {
    if (prompt != 0 || completion != 0) return;
    os << dec->push(static_cast<int32_t>(id)) << std::flush;
  };
}

}  // namespace rlvr::cli
