// Loading a model directory: dtype resolution, weights, adapter, tokenizer and EOS ids.
#include "rlvr/loader/loaded_model.h"

#include <algorithm>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr {

LoadedModel load_model_dir(const std::string& dir, const LoadOptions& o) {
  LoadedModel lm;
  lm.dir = dir;
  lm.device = o.device;
  const ModelConfig cfg = ModelConfig::load(dir);
  lm.dtype = resolve_dtype(o.dtype, cfg, o.device);
  lm.model = load_model(dir, lm.dtype, o.device);
  if (!o.adapter.empty()) {
    load_adapter(lm.model, o.adapter);
    lm.model->to(o.device);
  }
  const bool has_tok = file_exists(join_path(dir, "tokenizer.json"));
  RLVR_CHECK(has_tok || o.tokenizer_needed_by.empty(), dir, ": no tokenizer.json; ", o.tokenizer_needed_by,
             " needs the model's tokenizer files (tokenizer.json, tokenizer_config.json) in its directory");
  if (has_tok) lm.tokenizer = std::make_shared<const Tokenizer>(Tokenizer::load(dir));
  lm.eos_ids = merge_eos_ids(cfg.eos_token_ids, has_tok ? lm.tokenizer->eos_ids() : std::vector<int32_t>{});
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
