// Model flags and model loading for the CLI commands that generate.
#include "cli_common.h"

#include "rlvr/core/error.h"

namespace rlvr::cli {

void add_model_flags(CLI::App* cmd, ModelFlags& f, bool with_adapter) {
  cmd->add_option("--model", f.dir, "HF model directory (config.json + *.safetensors)")->required();
  cmd->add_option("--dtype", f.dtype,
                  "auto | float32 | bfloat16 (auto: the checkpoint's dtype; float16 runs as float32 on CPU)");
  cmd->add_option("--device", f.device, "cpu | cuda | cuda:N");
  if (with_adapter) cmd->add_option("--adapter", f.adapters, "PEFT LoRA adapter directory");
}

LoadedModel load_for_cli(const ModelFlags& f) {
  LoadOptions o;
  o.device = torch::Device(f.device);
  RLVR_CHECK(!o.device.is_cuda() || torch::cuda::is_available(),
             "--device ", f.device, ": CUDA is not available in this build/machine; use --device cpu");
  RLVR_CHECK(f.adapters.size() <= 1, "--adapter: one adapter at a time");
  o.dtype = f.dtype;
  if (!f.adapters.empty()) o.adapter = f.adapters[0];
  LoadedModel lm = load_model_dir(f.dir, o);
  lm.model->eval();
  return lm;
}

std::vector<int64_t> encode_prompt(const LoadedModel& lm, const std::string& text, const std::string& what) {
  RLVR_CHECK(lm.tokenizer, what, ": text prompts need a tokenizer.json in the model directory; use --prompt-ids");
  return to_model_ids(lm.tokenizer->encode(text));
}

std::function<void(int64_t, int64_t, int64_t)> streamer(const LoadedModel& lm, std::ostream& os) {
  if (!lm.tokenizer) return nullptr;
  auto dec = std::make_shared<StreamDecoder>(*lm.tokenizer, /*skip_special_tokens=*/true);
  return [dec, &os](int64_t prompt, int64_t completion, int64_t id) {
    if (prompt != 0 || completion != 0) return;
    os << dec->push(to_tokenizer_id(id)) << std::flush;
  };
}

}  // namespace rlvr::cli
