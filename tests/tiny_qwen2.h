// The tiny Qwen2 shape the torch tests share: attention biases, GQA (4 query / 2 KV heads), an
// untied lm_head and a large init range, so every code path of the model matters to the output.
#pragma once
#include "rlvr/model/config.h"

namespace rlvr::test {

inline ModelConfig tiny_qwen2_config(int64_t vocab_size = 97) {
  ModelConfig c;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.vocab_size = vocab_size;
  c.rope_theta = 10000.0;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = false;
  c.attention_bias = true;
  c.initializer_range = 0.2;
  return c;
}

}  // namespace rlvr::test
