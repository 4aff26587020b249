// Shared CLI pieces: model flags (--model, --dtype, --device, --adapter) and loading a model
// with its tokenizer and EOS ids for the commands that generate.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "rlvr/model/qwen2.h"

namespace rlvr {
class Tokenizer;
}

namespace rlvr::cli {

struct ModelFlags {
  std::string dir;
  std::string dtype = "auto";   // auto = the checkpoint's dtype (float16 -> float32 on CPU)
  std::string device = "cpu";
  std::vector<std::string> adapters;
};
void add_model_flags(CLI::App* cmd, ModelFlags& f, bool with_adapter);
torch::Dtype resolve_dtype(const std::string& flag, const ModelConfig& cfg, const torch::Device& dev);

struct LoadedModel {
  CausalLM model{nullptr};
  torch::Dtype dtype = torch::kFloat32;
  std::vector<int64_t> eos_ids;
  std::shared_ptr<const Tokenizer> tokenizer;  // null when the directory has no tokenizer.json

  bool has_tokenizer() const { return tokenizer != nullptr; }
  std::vector<int64_t> encode(const std::string& text, const std::string& what) const;
  // Streams decoded text of completion (0, 0) as tokens arrive.
  std::function<void(int64_t, int64_t, int64_t)> streamer(std::ostream& os) const;
};
LoadedModel load_for_cli(const ModelFlags& f);

void add_bench_generate(CLI::App& bench);

}  // namespace rlvr::cli
