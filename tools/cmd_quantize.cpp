// rlvr quantize: writes a model directory in the layout transformers saves for a bitsandbytes
// 4-bit model (docs/quantization.md, "Checkpoint layout"). A thin adapter over load_model's
// quantize-at-load and save_model.
#include <iomanip>
#include <iostream>

#include "cli_common.h"
#include "commands.h"
#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/model/qwen2.h"
#include "rlvr/tokenizer/tokenizer.h"

namespace rlvr::cli {

namespace {

struct QuantizeOpts {
  std::string model, out, dtype = "auto";
  QuantFlags quant{true};  // always 4-bit; --quant-type and --no-double-quant as --load-in-4bit's
};

// One line for each input the command cannot use.
ModelConfig check_quantize_input(const QuantizeOpts& o) {
  RLVR_CHECK(is_directory(o.model) && file_exists(join_path(o.model, "config.json")), "quantize: --model ", o.model,
             " is not a model directory (no config.json); pass a Hugging Face model directory");
  ModelConfig cfg = ModelConfig::load(o.model);
  RLVR_CHECK(!cfg.quantization, "quantize: --model ", o.model,
             " is already 4-bit (config.json has quantization_config); quantize the unquantized model");
  RLVR_CHECK(!file_exists(o.out) || (is_directory(o.out) && list_dir(o.out).empty()), "quantize: --out ", o.out,
             " exists and is not an empty directory; choose a new --out or empty it");
  return cfg;
}

void run_quantize(const QuantizeOpts& o) {
  const ModelConfig cfg = check_quantize_input(o);
  const Quant4bitOptions q4 = o.quant.options();
  const torch::Dtype dtype = parse_dtype(o.dtype == "auto" ? cfg.torch_dtype : o.dtype);
  std::cerr << std::fixed << std::setprecision(2) << "quantizing " << o.model << " (" << cfg.num_parameters() << " parameters, " << dtype_name(dtype)
            << ") to " << o.quant.quant_type << (q4.double_quant ? " with double quantization" : "") << " ...\n";
  const Stopwatch clock;
  CausalLM m = load_model(o.model, dtype, torch::kCPU, q4);
  const size_t layers = m->quantized_weights().size();
  std::cerr << "quantized " << layers << " Linear weights in " << clock.seconds() << " s; writing " << o.out << "\n";
  make_dirs(o.out);
  save_model(m, o.out, dtype, read_json_file(join_path(o.model, "config.json")));  // keeps IN's other keys
  std::string copied;
  for (const std::string& name : copy_tokenizer_files(o.model, o.out)) copied += ", " + name;
  std::cerr << "wrote " << o.out << ": config.json, model.safetensors" << copied << " (" << clock.seconds()
            << " s)\n";
}

}  // namespace

void add_quantize_commands(CLI::App& app) {
  auto o = std::make_shared<QuantizeOpts>();
  auto* cmd = app.add_subcommand(
      "quantize",
      "Write a 4-bit copy of a model directory in the layout transformers saves for bitsandbytes 4-bit "
      "(QLoRA base weights): the decoder Linear weights (q, k, v, o, gate, up, down) as packed NF4/FP4 codes "
      "with their absmax statistics (blocksize 64; with double quantization the absmax values 8-bit "
      "quantized in blocks of 256), everything else (embeddings, lm_head, norms, biases) in --dtype, "
      "config.json with quantization_config, and the tokenizer files copied. rlvr loads the result with "
      "every command that takes --model; it is the layout transformers + bitsandbytes read for a pre-quantized "
      "model. "
      "docs/quantization.md has the layout and the rounding rules.");
  cmd->add_option("--model", o->model, "unquantized Hugging Face model directory (bf16 / fp32 / fp16)")->required();
  cmd->add_option("--out", o->out, "output directory (new or empty)")->required();
  cmd->add_option("--quant-type", o->quant.quant_type, "4-bit code: nf4 (QLoRA's NormalFloat) or fp4")
      ->check(CLI::IsMember({"nf4", "fp4"}));
  cmd->add_flag("--no-double-quant", o->quant.no_double_quant,
                "keep the absmax values in float32 (bnb_4bit_use_double_quant false)");
  cmd->add_option("--dtype", o->dtype,
                  "dtype the Linear weights are cast to before quantizing and the other weights are stored in "
                  "(auto = the checkpoint's torch_dtype)")
      ->check(CLI::IsMember({"auto", "bfloat16", "float32", "float16"}));
  cmd->callback([o] { run_quantize(*o); });
}

}  // namespace rlvr::cli
