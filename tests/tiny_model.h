// A tiny Qwen2 model folder for trainer tests: random weights and the byte-level tokenizer
// (259 ids, EOS <|im_end|> = 258), written with the real I/O so every trainer path loads it.
#pragma once
#include <string>

#include "rlvr/model/qwen2.h"
#include "rlvr/tokenizer/tokenizer.h"

namespace rlvr::test {

// init_std: the weights' normal(0, init_std). With the default 0.02 the tied embedding rows are so
// short that adapters alone cannot move a logit by more than about 1.3; LoRA tests use more.
inline std::string tiny_model_dir(const std::string& dir, int64_t hidden, int64_t layers, double init_std = 0.02) {
  write_byte_level_tokenizer(dir);
  ModelConfig c;
  c.hidden_size = hidden;
  c.intermediate_size = 2 * hidden;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = hidden / 4;
  c.vocab_size = 259;
  c.max_position_embeddings = 512;
  c.tie_word_embeddings = true;
  c.eos_token_ids = {258};
  c.initializer_range = init_std;
  CausalLM m = make_random_model(c, 3);
  save_model(m, dir, torch::kFloat32);
  return dir;
}

}  // namespace rlvr::test
