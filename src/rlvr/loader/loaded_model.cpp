// Loading a model directory: dtype resolution, weights, adapter, tokenizer and EOS ids.
#include "rlvr/loader/loaded_model.h"

#include <algorithm>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr {

namespace {
// The tokenizer next to the model (null when there is none), checked against the model's
// embedding: every id it can produce must be a row of embed_tokens.
std::shared_ptr<const Tokenizer> load_tokenizer(const std::string& dir, const ModelConfig& cfg,
                                                const LoadOptions& o) {
  const bool has_tok = file_exists(join_path(dir, "tokenizer.json"));
  RLVR_CHECK(has_tok || o.tokenizer_needed_by.empty(), dir, ": no tokenizer.json; ", o.tokenizer_needed_by,
             " needs the model's tokenizer files (tokenizer.json, tokenizer_config.json) in its directory");
  if (!has_tok) return nullptr;
  auto tok = std::make_shared<const Tokenizer>(Tokenizer::load(dir));
  RLVR_CHECK(tok->vocab_size() <= cfg.vocab_size, join_path(dir, "tokenizer.json"), ": token ids go up to ",
             tok->vocab_size() - 1, " (added tokens included) but the model's embedding has vocab_size ",
             cfg.vocab_size, " rows (config.json); use the tokenizer the model was trained with");
  return tok;
}
}  // namespace

LoadedModel load_model_dir(const std::string& dir, const LoadOptions& o) {
  LoadedModel lm;
  lm.dir = dir;
  lm.device = o.device;
  const ModelConfig cfg = ModelConfig::load(dir);
  lm.tokenizer = load_tokenizer(dir, cfg, o);  // before the weights: a mismatch fails fast
  lm.dtype = resolve_dtype(o.dtype, cfg, o.device);
  lm.model = load_model(dir, lm.dtype, o.device, o.q4);
  if (!o.adapter.empty()) {
    load_adapter(lm.model, o.adapter);
    lm.model->to(o.device);
  }
  lm.eos_ids = merge_eos_ids(cfg.eos_token_ids, lm.has_tokenizer() ? lm.tokenizer->eos_ids() : std::vector<int32_t>{});
  return lm;
}

std::vector<int64_t> merge_eos_ids(const std::vector<int64_t>& config_ids,
                                   const std::vector<int32_t>& tokenizer_ids) {
  std::vector<int64_t> ids = config_ids;
  for (int32_t id : tokenizer_ids)
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  return ids;
}

}  // namespace rlvr
