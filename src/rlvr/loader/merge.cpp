// rlvr merge: base + adapter in float32, merged, written in the stored dtype.
#include "rlvr/loader/merge.h"

#include <cmath>
#include <iomanip>
#include <sstream>

#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/loader/loaded_model.h"

namespace rlvr {

namespace {

// The base's config.json, refused when it describes a quantized checkpoint.
nlohmann::json read_base_config(const std::string& base) {
  const std::string path = join_path(base, "config.json");
  RLVR_CHECK(file_exists(path), "--model ", base, ": no config.json; pass a Hugging Face model directory");
  nlohmann::json config = read_json_file(path);
  RLVR_CHECK(!config.contains("quantization_config"), "--model ", base,
             ": a quantized checkpoint (config.json has quantization_config); merge needs the unquantized "
             "base model, so that the adapter is merged into the original weights");
  return config;
}

void check_paths(const MergeOptions& o) {
  RLVR_CHECK(is_directory(o.adapter), "--adapter ", o.adapter,
             ": no such folder; pass a PEFT adapter directory (adapter_config.json + adapter_model.safetensors)");
  const std::string out = real_path(o.out);
  RLVR_CHECK(out != real_path(o.base), "--out ", o.out, " is the base model directory; choose a new directory");
  RLVR_CHECK(out != real_path(o.adapter), "--out ", o.out, " is the adapter directory; choose a new directory");
  RLVR_CHECK(!file_exists(o.out) || is_directory(o.out), "--out ", o.out, ": a file; choose a new directory");
  RLVR_CHECK(!is_directory(o.out) || list_dir(o.out).empty(), "--out ", o.out,
             ": not empty; choose a new or empty directory (merge never writes over files)");
}

// The dtype to store: the choice, or with "auto" the base checkpoint's (config.json torch_dtype).
torch::Dtype stored_dtype(const std::string& choice, const std::string& base) {
  const std::string name = choice != "auto" ? choice : ModelConfig::load(base).torch_dtype;
  const torch::Dtype d = parse_dtype(name);
  RLVR_CHECK(d == torch::kFloat32 || d == torch::kBFloat16 || d == torch::kFloat16, "dtype ", name,
             (choice == "auto" ? " (the base's torch_dtype)" : ""),
             ": merge stores float32, bfloat16 or float16; pass --dtype");
  return d;
}

// float16 keeps magnitudes up to 65504 only: a merged weight beyond that is refused, not saturated.
void check_fits_float16(const CausalLM& model) {
  for (const auto& [name, p] : model->base_state()) {
    const double max = p.abs().max().item<double>();
    RLVR_CHECK(std::isfinite(max) && max <= 65504.0, "--dtype float16: merged weight ", name, " reaches ", max,
               ", beyond float16's range (65504); use --dtype bfloat16 or float32");
  }
}

}  // namespace

void merge_adapter(const MergeOptions& o, const std::function<void(const std::string&)>& say) {
  const Stopwatch clock;
  const nlohmann::json config = read_base_config(o.base);
  check_paths(o);
  const torch::Dtype dtype = stored_dtype(o.dtype, o.base);
  LoadOptions lo;
  lo.dtype = "float32";
  lo.adapter = o.adapter;
  LoadedModel lm = load_model_dir(o.base, lo);  // quiet until loaded: bad input is one error line
  const LoraConfig& lora = lm.model->lora_config();
  std::ostringstream what;
  what << "merge: loaded " << o.base << " in float32 with the adapter " << o.adapter << "; W += B A * "
       << lora.alpha / lora.r << " (lora_alpha " << lora.alpha << ", r " << lora.r << ")";
  say(what.str());
  lm.model->merge_lora();
  if (dtype == torch::kFloat16) check_fits_float16(lm.model);
  say("merge: writing " + o.out + " in " + dtype_name(dtype));
  save_model(lm.model, o.out, dtype, config);
  const auto copied = copy_tokenizer_files(o.base, o.out);
  std::string files;
  for (const auto& f : copied) files += " " + f;
  std::ostringstream done;
  done << std::fixed << std::setprecision(2) << "wrote " << o.out << ": config.json model.safetensors" << files << " (" << clock.seconds() << " s)";
  say(done.str());
}

}  // namespace rlvr
