// Shared CLI pieces: model flags (--model, --dtype, --device, --adapter), loading a model with
// its tokenizer and EOS ids (rlvr::LoadedModel) and text in and out for the commands that generate.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "rlvr/engine/sampler.h"
#include "rlvr/loader/loaded_model.h"

namespace rlvr::cli {

// --load-in-4bit [--quant-type nf4|fp4] [--no-double-quant]: QLoRA's 4-bit base weights.
struct QuantFlags {
  bool load_in_4bit = false;
  std::string quant_type = "nf4";
  bool no_double_quant = false;
  Quant4bitOptions options() const;
};
void add_quant_flags(CLI::App* cmd, QuantFlags& q);

struct ModelFlags {
  std::string dir;
  std::string dtype = "auto";   // resolve_dtype (model/qwen2.h): auto = the checkpoint's dtype
  std::string device = "cpu";
  std::vector<std::string> adapters;
  QuantFlags quant;
};
void add_model_flags(CLI::App* cmd, ModelFlags& f, bool with_adapter);

// One line naming the flag when --device or --dtype cannot run here (CUDA missing, float16 on CPU).
void check_model_flags(const ModelFlags& f);
// One line naming the flag for a sampling value outside its range (--temperature < 0,
// --top-p outside (0, 1], --top-k < 0, --min-p outside [0, 1], --repetition-penalty <= 0).
void check_sampling(const SamplingParams& p);

// load_model_dir as the flags ask (checked by check_model_flags), in eval mode; the tokenizer is
// optional.
LoadedModel load_for_cli(const ModelFlags& f);
// Token ids of a text prompt; `what` names the flag or line in the error when there is no
// tokenizer.
std::vector<int64_t> encode_prompt(const LoadedModel& lm, const std::string& text, const std::string& what);
// Streams decoded text of completion (0, 0) as tokens arrive; null without a tokenizer.
std::function<void(int64_t, int64_t, int64_t)> streamer(const LoadedModel& lm, std::ostream& os);

void add_bench_generate(CLI::App& bench);

}  // namespace rlvr::cli
