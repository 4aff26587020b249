// Model flags and model loading for the CLI commands that generate.
#include "cli_common.h"

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr::cli {

void add_model_flags(CLI::App* cmd, ModelFlags& f, bool with_adapter) {
  cmd->add_option("--model", f.dir, "HF model directory (config.json + *.safetensors)")->required();
  cmd->add_option("--dtype", f.dtype,
                  "auto | float32 | bfloat16 | float16 (CUDA only) (auto: the checkpoint's dtype; a float16 "
                  "checkpoint runs as float32 on CPU)");
  cmd->add_option("--device", f.device, "cpu | cuda | cuda:N");
  if (with_adapter) cmd->add_option("--adapter", f.adapters, "PEFT LoRA adapter directory");
  add_quant_flags(cmd, f.quant);
}

void add_quant_flags(CLI::App* cmd, QuantFlags& q) {
  auto* on = cmd->add_flag("--load-in-4bit", q.load_in_4bit,
                           "quantize the decoder Linear weights to 4 bits at load (QLoRA, bitsandbytes layout; "
                           "a checkpoint saved in 4-bit loads as 4-bit without it)");
  cmd->add_option("--quant-type", q.quant_type, "4-bit code with --load-in-4bit: nf4 | fp4")
      ->check(CLI::IsMember({"nf4", "fp4"}))
      ->needs(on);
  cmd->add_flag("--no-double-quant", q.no_double_quant,
                "with --load-in-4bit: keep the block scales in float32 (default: 8-bit double quantization)")
      ->needs(on);
}

Quant4bitOptions QuantFlags::options() const {
  Quant4bitOptions o;
  o.enabled = load_in_4bit;
  o.type = quant::parse_quant_type(quant_type);  // nf4 | fp4, checked by the flag
  o.double_quant = !no_double_quant;
  return o;
}

void check_model_flags(const ModelFlags& f) {
  const torch::Device device(f.device);
  RLVR_CHECK(!device.is_cuda() || torch::cuda::is_available(),
             "--device ", f.device, ": CUDA is not available in this build/machine; use --device cpu");
  RLVR_CHECK(f.dtype == "auto" || !device.is_cpu() || parse_dtype(f.dtype) != torch::kFloat16, "--dtype ", f.dtype,
             ": float16 does not run on CPU; use --dtype bfloat16 or float32 (or run on --device cuda)");
}

void check_sampling(const SamplingParams& p) {
  RLVR_CHECK(p.temperature >= 0, "--temperature must be >= 0 (0 = greedy), got ", p.temperature);
  RLVR_CHECK(p.top_p > 0 && p.top_p <= 1, "--top-p must be in (0, 1] (1 = off), got ", p.top_p);
  RLVR_CHECK(p.top_k >= 0, "--top-k must be >= 0 (0 = off), got ", p.top_k);
  RLVR_CHECK(p.min_p >= 0 && p.min_p <= 1, "--min-p must be in [0, 1] (0 = off), got ", p.min_p);
  RLVR_CHECK(p.repetition_penalty > 0, "--repetition-penalty must be > 0 (1 = off), got ", p.repetition_penalty);
}

LoadedModel load_for_cli(const ModelFlags& f) {
  check_model_flags(f);
  RLVR_CHECK(f.adapters.size() <= 1, "--adapter: one adapter at a time");
  for (const std::string& dir : f.adapters)
    RLVR_CHECK(is_directory(dir), "--adapter ", dir,
               ": no such folder; pass a PEFT adapter directory (adapter_config.json + adapter_model.safetensors)");
  LoadOptions o;
  o.device = torch::Device(f.device);
  o.dtype = f.dtype;
  o.q4 = f.quant.options();
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
