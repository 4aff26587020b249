// Model tests: real pretrained weights against reference logits, KV-cached decode against full
// recompute (with and without a shared prefix, float32 / bf16 / float64), ragged batches against
// one-by-one, the row kernels (exp, two-part softmax), in-place cache compaction, LoRA
// (zero-init, merge, adapter-off guard, gradients, double-precision gradient check, PEFT I/O).
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/io/safetensors.h"
#include "rlvr/loader/loaded_model.h"
#include "rlvr/model/cpu_allocator.h"
#include "rlvr/model/qwen2.h"
#include "rlvr/model/row_kernels.h"
#include "testlib.h"
#include "tiny_qwen2.h"

using namespace rlvr;

namespace {

ModelConfig tiny_config() { return test::tiny_qwen2_config(); }

// Random model whose biases and norms are non-trivial too.
CausalLM tiny_model(uint64_t seed = 1, torch::Dtype dtype = torch::kFloat32) {
  CausalLM m = make_random_model(tiny_config(), seed);
  torch::NoGradGuard ng;
  torch::manual_seed(seed + 100);
  for (auto& [name, p] : m->base_state())
    if (name.find("bias") != std::string::npos || name.find("norm") != std::string::npos)
      p.add_(torch::randn_like(p) * 0.1);
  m->to(dtype);
  m->eval();
  return m;
}

torch::Tensor ids_of(const std::vector<int64_t>& v) { return torch::tensor(v).unsqueeze(0); }
torch::Tensor pos_of(int64_t from, int64_t n) { return torch::arange(from, from + n).unsqueeze(0); }

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace

TEST(Model, Stories260KMatchesReferenceLogits) {
  std::string dir = test::shared_data() + "/models/stories260K";
  auto ref = read_json_file(dir + "/reference_logits.json");
  auto tokens = ref["tokens"].get<std::vector<int64_t>>();
  auto rows = ref["logits"].get<std::vector<std::vector<double>>>();
  CausalLM m = load_model(dir + "/hf-qwen2", torch::kFloat32, torch::kCPU);
  torch::NoGradGuard ng;
  const int64_t T = static_cast<int64_t>(rows.size());
  std::vector<int64_t> in(tokens.begin(), tokens.begin() + T);
  auto logits = m->forward(ids_of(in), pos_of(0, T))[0];  // (T, V)
  ASSERT_EQ(logits.size(1), 512);
  double worst = 0;
  for (int64_t p = 0; p < T; ++p) {
    auto expect = torch::tensor(rows[p], torch::kFloat64);
    worst = std::max(worst, max_diff(logits[p], expect));
  }
  EXPECT_LT(worst, 1e-4);
  // The KV-cached path agrees as well, one token at a time.
  KVCache cache;
  double worst_cached = 0;
  for (int64_t p = 0; p < T; ++p) {
    auto l = m->forward(ids_of({in[p]}), pos_of(p, 1), &cache)[0][0];
    worst_cached = std::max(worst_cached, max_diff(l, torch::tensor(rows[p], torch::kFloat64)));
  }
  EXPECT_LT(worst_cached, 1e-4);
}

TEST(Model, KVCachedDecodeEqualsFullRecompute) {
  CausalLM m = tiny_model();
  torch::NoGradGuard ng;
  std::vector<int64_t> seq = {5, 17, 3, 88, 42, 9, 60, 1, 33, 71, 2, 50};
  const int64_t T = static_cast<int64_t>(seq.size());
  auto full = m->forward(ids_of(seq), pos_of(0, T))[0];  // (T, V)
  KVCache cache;
  std::vector<int64_t> head(seq.begin(), seq.begin() + 5);
  auto pre = m->forward(ids_of(head), pos_of(0, 5), &cache)[0];
  EXPECT_LT(max_diff(pre, full.narrow(0, 0, 5)), 1e-5);
  for (int64_t t = 5; t < T; ++t) {
    auto l = m->forward(ids_of({seq[t]}), pos_of(t, 1), &cache)[0][0];
    EXPECT_LT(max_diff(l, full[t]), 1e-5) << "position " << t;
  }
  // Shared prefix: the first 4 tokens become a prefix cache every row attends to.
  KVCache pc;
  m->forward(ids_of({seq.begin(), seq.begin() + 4}), pos_of(0, 4), &pc);
  KVCache shared = pc.to_prefix();
  auto two = torch::tensor(std::vector<int64_t>(seq.begin() + 4, seq.end())).unsqueeze(0).repeat({2, 1});
  auto l2 = m->forward(two, torch::arange(4, T).unsqueeze(0).repeat({2, 1}), &shared);  // (2, T-4, V)
  EXPECT_LT(max_diff(l2[0], full.narrow(0, 4, T - 4)), 1e-5);
  EXPECT_LT(max_diff(l2[1], full.narrow(0, 4, T - 4)), 1e-5);
}

TEST(Model, RaggedBatchEqualsOneByOne) {
  CausalLM m = tiny_model(3);
  torch::NoGradGuard ng;
  std::vector<std::vector<int64_t>> seqs = {{4, 8, 15}, {16, 23, 42, 7, 1, 2, 3}, {9, 9, 9, 9, 9}};
  const int64_t N = 3, T = 7;
  auto ids = torch::zeros({N, T}, torch::kInt64);
  auto pos = torch::full({N, T}, -1, torch::kInt64);
  for (int64_t i = 0; i < N; ++i) {
    int64_t len = static_cast<int64_t>(seqs[i].size());
    ids[i].narrow(0, 0, len).copy_(torch::tensor(seqs[i]));
    pos[i].narrow(0, 0, len).copy_(torch::arange(len));
  }
  auto batch_full = m->forward(ids, pos);  // reference path, padded
  KVCache cache;
  auto batch_cached = m->forward(ids, pos, &cache);
  // Then three decode steps for every row at its own position.
  std::vector<int64_t> extra = {11, 12, 13};
  std::vector<torch::Tensor> steps;
  for (int64_t s = 0; s < 3; ++s) {
    auto step_ids = torch::full({N, 1}, extra[s], torch::kInt64);
    auto step_pos = torch::tensor(std::vector<int64_t>{3 + s, 7 + s, 5 + s}).unsqueeze(1);
    steps.push_back(m->forward(step_ids, step_pos, &cache));
  }
  for (int64_t i = 0; i < N; ++i) {
    std::vector<int64_t> alone = seqs[i];
    alone.insert(alone.end(), extra.begin(), extra.end());
    int64_t len = static_cast<int64_t>(seqs[i].size());
    auto ref = m->forward(ids_of(alone), pos_of(0, static_cast<int64_t>(alone.size())))[0];
    EXPECT_LT(max_diff(batch_full[i].narrow(0, 0, len), ref.narrow(0, 0, len)), 1e-5) << i;
    EXPECT_LT(max_diff(batch_cached[i].narrow(0, 0, len), ref.narrow(0, 0, len)), 1e-5) << i;
    for (int64_t s = 0; s < 3; ++s)
      EXPECT_LT(max_diff(steps[s][i][0], ref[len + s]), 1e-5) << i << " step " << s;
  }
}

TEST(Model, Bf16IsCloseToFloat32) {
  CausalLM m32 = tiny_model(5);
  CausalLM m16 = tiny_model(5, torch::kBFloat16);
  torch::NoGradGuard ng;
  std::vector<int64_t> seq = {1, 2, 3, 4, 5, 6};
  auto a = m32->forward(ids_of(seq), pos_of(0, 6));
  auto b = m16->forward(ids_of(seq), pos_of(0, 6));
  EXPECT_EQ(b.scalar_type(), torch::kFloat32);
  EXPECT_LT(max_diff(a, b), 0.1 * a.abs().max().item<double>() + 0.05);
}

TEST(Lora, ZeroInitEqualsBaseAndMergeEqualsUnmerged) {
  CausalLM m = tiny_model(7);
  torch::NoGradGuard ng;
  std::vector<int64_t> seq = {3, 1, 4, 1, 5, 9, 2, 6};
  auto base = m->forward(ids_of(seq), pos_of(0, 8));
  LoraConfig lc;
  lc.r = 4;
  lc.alpha = 8;
  m->add_lora(lc, 11);
  EXPECT_TRUE(m->forward(ids_of(seq), pos_of(0, 8)).equal(base));
  for (auto& [n, t] : m->adapter_state())
    if (n.find("lora_B") != std::string::npos) t.normal_(0, 0.1);
  auto adapted = m->forward(ids_of(seq), pos_of(0, 8));
  EXPECT_GT(max_diff(adapted, base), 1e-3);
  m->set_adapters_enabled(false);
  EXPECT_TRUE(m->forward(ids_of(seq), pos_of(0, 8)).equal(base));
  m->set_adapters_enabled(true);
  m->merge_lora();
  EXPECT_LT(max_diff(m->forward(ids_of(seq), pos_of(0, 8)), adapted), 1e-5);
  m->set_adapters_enabled(false);
  EXPECT_LT(max_diff(m->forward(ids_of(seq), pos_of(0, 8)), base), 1e-5);
  m->set_adapters_enabled(true);
  m->unmerge_lora();
  EXPECT_LT(max_diff(m->forward(ids_of(seq), pos_of(0, 8)), adapted), 1e-5);
}

TEST(Lora, OnlyAdapterTensorsReceiveGradients) {
  CausalLM m = tiny_model(8);
  LoraConfig lc;
  lc.r = 2;
  lc.target_modules = {"q_proj", "v_proj", "down_proj"};
  m->add_lora(lc, 1);
  m->train();
  std::vector<int64_t> seq = {10, 20, 30, 40};
  auto loss = m->forward(ids_of(seq), pos_of(0, 4)).logsumexp(-1).sum();
  loss.backward();
  int adapters = 0;
  for (const auto& item : m->named_parameters()) {
    bool is_lora = item.key().find("lora_") != std::string::npos;
    bool targeted = item.key().find("q_proj") != std::string::npos ||
                    item.key().find("v_proj") != std::string::npos ||
                    item.key().find("down_proj") != std::string::npos;
    if (is_lora) {
      EXPECT_TRUE(targeted) << item.key();
      ++adapters;
      // lora_A gets no gradient while B is zero (dL/dA = B^T ...), B always does.
      if (item.key().find("lora_B") != std::string::npos) {
        ASSERT_TRUE(item.value().grad().defined()) << item.key();
        EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0) << item.key();
      }
    } else {
      EXPECT_FALSE(item.value().grad().defined()) << item.key();
    }
  }
  EXPECT_EQ(adapters, 2 * 3 * 2);  // A and B, 3 modules, 2 layers
  auto trainable = m->trainable_parameters();
  EXPECT_EQ(trainable.size(), 12u);
  m->set_full_finetune(true);
  EXPECT_EQ(m->trainable_parameters().size(), m->parameters().size());
}

TEST(Lora, GradientCheckInDouble) {
  CausalLM m = tiny_model(9, torch::kFloat64);
  LoraConfig lc;
  lc.r = 2;
  lc.alpha = 4;
  m->add_lora(lc, 2);
  m->to(torch::kFloat64);
  {
    torch::NoGradGuard ng;
    for (auto& [n, t] : m->adapter_state()) t.normal_(0, 0.2);
  }
  std::vector<int64_t> seq = {7, 3, 11, 5, 2};
  torch::manual_seed(0);
  auto w = torch::randn({1, 5, 97}, torch::kFloat64);
  auto hidden_loss = [&] {
    return (m->forward(ids_of(seq), pos_of(0, 5)) * w).sum();
  };
  auto state = m->adapter_state();
  for (auto& [n, t] : state) t.mutable_grad() = torch::Tensor();
  hidden_loss().backward();
  int checked = 0;
  for (auto& [name, t] : state) {
    if (checked >= 6) break;
    auto grad = t.grad().clone();
    for (int64_t idx : {int64_t(0), t.numel() - 1}) {
      torch::NoGradGuard ng;
      auto flat = t.view(-1);
      double orig = flat[idx].item<double>();
      const double h = 1e-6;
      flat[idx] = orig + h;
      double up = hidden_loss().item<double>();
      flat[idx] = orig - h;
      double down = hidden_loss().item<double>();
      flat[idx] = orig;
      double numeric = (up - down) / (2 * h);
      double analytic = grad.view(-1)[idx].item<double>();
      EXPECT_NEAR(analytic, numeric, 1e-6 * std::max(1.0, std::abs(numeric))) << name << "[" << idx << "]";
    }
    ++checked;
  }
}

TEST(Lora, PeftSaveLoadIsExact) {
  auto dir = test::scratch_dir("lora_peft");
  CausalLM m = tiny_model(10);
  save_model(m, dir + "/base", torch::kFloat32);
  LoraConfig lc;
  lc.r = 3;
  lc.alpha = 6;
  m->add_lora(lc, 5);
  {
    torch::NoGradGuard ng;
    for (auto& [n, t] : m->adapter_state()) t.normal_(0, 0.1);
  }
  save_adapter(m, dir + "/adapter", dir + "/base");
  auto cfg = read_json_file(dir + "/adapter/adapter_config.json");
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["r"], 3);
  auto f = SafetensorsFile::open(dir + "/adapter/adapter_model.safetensors");
  EXPECT_TRUE(f.has("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
  EXPECT_TRUE(f.has("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
  CausalLM m2 = load_model(dir + "/base", torch::kFloat32, torch::kCPU);
  load_adapter(m2, dir + "/adapter");
  torch::NoGradGuard ng;
  m->eval();
  m2->eval();
  std::vector<int64_t> seq = {1, 2, 3, 4};
  EXPECT_TRUE(m->forward(ids_of(seq), pos_of(0, 4)).equal(m2->forward(ids_of(seq), pos_of(0, 4))));
  auto s1 = m->adapter_state(), s2 = m2->adapter_state();
  ASSERT_EQ(s1.size(), s2.size());
  for (size_t i = 0; i < s1.size(); ++i) EXPECT_TRUE(s1[i].second.equal(s2[i].second)) << s1[i].first;
}

TEST(Model, BadCheckpointsGiveClearErrors) {
  auto dir = test::scratch_dir("bad_ckpt");
  CausalLM m = tiny_model(12);
  save_model(m, dir, torch::kFloat32);
  // config.json that disagrees with the weights.
  auto cfg = read_json_file(dir + "/config.json");
  cfg["hidden_size"] = 64;
  cfg["head_dim"] = 16;
  write_json_file(dir + "/config.json", cfg);
  try {
    load_model(dir, torch::kFloat32, torch::kCPU);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has shape"), std::string::npos) << e.what();
  }
  cfg.erase("vocab_size");
  write_json_file(dir + "/config.json", cfg);
  try {
    ModelConfig::load(dir);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing key 'vocab_size'"), std::string::npos) << e.what();
  }
}

namespace {
// fn must fail with one rlvr::Error line holding every part; any other exception is a crash.
template <typename Fn>
void expect_one_line(Fn fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected an error with '" << parts[0] << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an rlvr::Error: " << e.what();
  }
}

// A saved tiny model (2 layers, vocab 97, hidden 32, 4 x 8 query / 2 x 8 KV heads, MLP 48) whose
// config.json each case rewrites.
struct BadConfigDir {
  std::string dir;
  nlohmann::json cfg;
  explicit BadConfigDir(const std::string& name) : dir(test::scratch_dir(name)) {
    CausalLM m = tiny_model(14);
    save_model(m, dir, torch::kFloat32);
    cfg = read_json_file(dir + "/config.json");
  }
  // config.json with `key` set to `value`.
  void write(const std::string& key, const nlohmann::json& value) const {
    auto j = cfg;
    j[key] = value;
    write_json_file(dir + "/config.json", j);
  }
  // ... and loading fails with one line that names the folder and holds `parts`.
  void expect(const std::string& key, const nlohmann::json& value, std::vector<std::string> parts) const {
    write(key, value);
    parts.insert(parts.begin(), dir);
    expect_one_line([&] { load_model(dir, torch::kFloat32, torch::kCPU); }, parts);
  }
};
}  // namespace

// Every count and id of config.json is a whole number: 4.5 used to load as 4.
TEST(Model, ConfigCountsMustBeWholeNumbers) {
  const BadConfigDir d("cfg_counts");
  for (const char* key : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                          "num_key_value_heads", "vocab_size", "max_position_embeddings", "head_dim",
                          "bos_token_id", "eos_token_id"}) {
    SCOPED_TRACE(key);
    d.expect(key, 4.5, {"config.json: key '" + std::string(key) + "'", "4.5"});
    d.expect(key, true, {"config.json: key '" + std::string(key) + "'", "true"});
    d.expect(key, "4", {"config.json: key '" + std::string(key) + "'", "\"4\""});
    d.expect(key, 1e20, {"config.json: key '" + std::string(key) + "'"});
    d.expect(key, nlohmann::json(uint64_t(1) << 63), {"config.json: key '" + std::string(key) + "'"});
  }
  d.expect("num_attention_heads", 4.5, {"key 'num_attention_heads' must be a whole number, got 4.5"});
  d.expect("eos_token_id", {5, 6.5}, {"key 'eos_token_id' must be a token id or a list of them, got [5,6.5]"});
}

TEST(Model, ConfigEosIdMustBeInTheVocabulary) {
  const BadConfigDir d("cfg_eos");
  d.expect("eos_token_id", 97, {"config.json: eos_token_id 97 is outside the vocabulary (vocab_size 97)",
                                "use an id below 97"});
  d.expect("eos_token_id", {5, -1}, {"config.json: eos_token_id -1 is outside the vocabulary"});
  d.write("eos_token_id", {96, 5});  // the last row is a token
  EXPECT_EQ(ModelConfig::load(d.dir).eos_token_ids, (std::vector<int64_t>{96, 5}));
}

// num_hidden_layers against the model.layers.N.* the weights hold, both ways (fewer used to load
// silently, dropping layers).
TEST(Model, ConfigLayerCountMustMatchTheWeights) {
  const BadConfigDir d("cfg_layers");
  d.expect("num_hidden_layers", 1, {"config.json has num_hidden_layers 1 but the weights hold 2 layers "
                                    "(model.layers.0 to model.layers.1); make num_hidden_layers match"});
  d.expect("num_hidden_layers", 3, {"config.json has num_hidden_layers 3 but the weights hold 2 layers"});
}

// Sizes that no model has are one line, never an allocation failure; sizes that disagree with the
// weights are found on the tensors that carry them, before the model is built (a hidden_size of
// 2^30 would need 400 GB).
TEST(Model, ConfigSizesAreCheckedBeforeAllocating) {
  const BadConfigDir d("cfg_sizes");
  const int64_t big = int64_t(1) << 40;
  d.expect("hidden_size", big, {"config.json: the sizes imply", "hidden_size 1099511627776", "more than 2^40"});
  d.expect("vocab_size", int64_t(1) << 62, {"config.json: the sizes imply", "vocab_size 4611686018427387904"});
  d.expect("head_dim", big, {"config.json: the sizes imply"});
  d.expect("num_hidden_layers", big, {"config.json: the sizes imply"});
  d.expect("hidden_size", 0, {"config.json: hidden_size must be positive, got 0"});
  d.expect("vocab_size", -3, {"config.json: vocab_size must be positive, got -3"});
  d.expect("head_dim", 0, {"config.json: head_dim 0 must be positive and even"});
  d.expect("num_key_value_heads", 3, {"must be a multiple of num_key_value_heads (3)"});
  const int64_t huge = int64_t(1) << 30;
  d.expect("hidden_size", huge, {"tensor 'model.embed_tokens.weight' has shape [97, 32] but config.json "
                                 "implies [97, 1073741824]"});
  d.expect("vocab_size", 96, {"tensor 'model.embed_tokens.weight' has shape [97, 32] but config.json "
                              "implies [96, 32]"});
  d.expect("intermediate_size", int64_t(1) << 32, {"tensor 'model.layers.0.mlp.gate_proj.weight' has shape [48, 32]"});
  d.expect("num_attention_heads", 8, {"tensor 'model.layers.0.self_attn.q_proj.weight' has shape [32, 32] "
                                      "but config.json implies [64, 32]"});
  d.expect("num_key_value_heads", 4, {"tensor 'model.layers.0.self_attn.k_proj.weight' has shape [16, 32]"});
  d.write("max_position_embeddings", 64);  // not a size of any weight
  EXPECT_NO_THROW(load_model(d.dir, torch::kFloat32, torch::kCPU));
}

TEST(Model, GradientCheckpointingGivesTheSameGradients) {
  CausalLM m = tiny_model(13, torch::kFloat64);
  LoraConfig lc;
  lc.r = 2;
  lc.dropout = 0.3;  // masks must repeat in the recompute
  m->add_lora(lc, 3);
  m->to(torch::kFloat64);
  {
    torch::NoGradGuard ng;
    for (auto& [n, t] : m->adapter_state()) t.normal_(0, 0.2);
  }
  m->train();
  std::vector<int64_t> seq = {4, 9, 2, 7, 7, 1};
  auto grads = [&](bool ckpt) {
    m->set_gradient_checkpointing(ckpt);
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    torch::manual_seed(77);
    m->forward(ids_of(seq), pos_of(0, 6)).pow(2).mean().backward();
    std::vector<torch::Tensor> g;
    for (auto& [n, t] : m->adapter_state()) g.push_back(t.grad().clone());
    return g;
  };
  auto plain = grads(false), ckpt = grads(true);
  ASSERT_EQ(plain.size(), ckpt.size());
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_LT(max_diff(plain[i], ckpt[i]), 1e-10) << i;
  EXPECT_GT(plain[1].abs().sum().item<double>(), 0);
}

TEST(Model, ConfigReadsTransformers5Keys) {
  // transformers >= 5 writes rope_parameters and dtype instead of rope_theta and torch_dtype.
  nlohmann::json j = {{"model_type", "qwen2"}, {"hidden_size", 64}, {"intermediate_size", 128},
                      {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                      {"vocab_size", 300}, {"dtype", "bfloat16"},
                      {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 1000000.0}}}};
  ModelConfig c = ModelConfig::from_json(j, "config.json");
  EXPECT_DOUBLE_EQ(c.rope_theta, 1000000.0);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.head_dim, 16);
  // The older keys still win where both are present, and plain configs keep the defaults.
  j["rope_theta"] = 500000.0;
  j["torch_dtype"] = "float32";
  c = ModelConfig::from_json(j, "config.json");
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.torch_dtype, "float32");
  // Scaled RoPE (yarn, linear, ...) is not implemented: a clear error, not wrong logits.
  j["rope_parameters"]["rope_type"] = "yarn";
  try {
    ModelConfig::from_json(j, "config.json");
    ADD_FAILURE() << "a yarn RoPE config was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rope_type 'yarn' is not supported"), std::string::npos) << e.what();
  }
  j.erase("rope_parameters");
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  EXPECT_THROW(ModelConfig::from_json(j, "config.json"), Error);
  j["rope_scaling"] = nullptr;
  EXPECT_NO_THROW(ModelConfig::from_json(j, "config.json"));
}

TEST(RowKernels, ExpApproxIsAccurate) {
  std::vector<float> x;
  for (double v = -87.0; v <= 88.0; v += 0.00731) x.push_back(static_cast<float>(v));
  for (float v : {0.0f, -87.5f, -100.0f, -1e30f}) x.push_back(v);  // odd length: the tail path runs
  std::vector<float> y(x.size());
  kernels::exp_approx(x.data(), y.data(), static_cast<int64_t>(x.size()));
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] < -87.0f) {
      EXPECT_EQ(y[i], 0.0f) << x[i];
      continue;
    }
    const double e = std::exp(static_cast<double>(x[i]));
    worst = std::max(worst, std::abs(y[i] - e) / e);
  }
  EXPECT_LT(worst, 3e-7);
}

TEST(RowKernels, TwoPartSoftmaxEqualsMaskedSoftmaxOfTheConcatenation) {
  torch::manual_seed(5);
  const int64_t S = 45, qpos = 130;
  const float scale = 0.3f;
  std::vector<int64_t> kpos(S);  // hidden: empty slots (-1) and positions after the query's
  for (int64_t s = 0; s < S; ++s) kpos[s] = s % 7 == 3 ? -1 : 100 + s;
  for (int64_t P : {0, 1, 37}) {
    for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
      auto a = (torch::randn({P}) * 4).to(dtype), b = (torch::randn({S}) * 4).to(dtype);
      // Reference in float64 from the same (rounded) inputs.
      auto visible = torch::tensor(kpos).ge(0).logical_and(torch::tensor(kpos).le(qpos));
      auto sb = (b.to(torch::kFloat64) * scale).masked_fill(visible.logical_not(), -1e30);
      auto ref = torch::softmax(torch::cat({a.to(torch::kFloat64) * scale, sb}), 0);
      std::vector<float> scratch(kernels::scratch_floats(P + S));
      if (dtype == torch::kFloat32)
        kernels::softmax_two_part(a.data_ptr<float>(), P, b.data_ptr<float>(), S, kpos.data(), qpos, scale,
                                  scratch.data());
      else
        kernels::softmax_two_part(reinterpret_cast<uint16_t*>(a.data_ptr<at::BFloat16>()), P,
                                  reinterpret_cast<uint16_t*>(b.data_ptr<at::BFloat16>()), S, kpos.data(),
                                  qpos, scale, scratch.data());
      auto got = torch::cat({a, b}).to(torch::kFloat64);
      const double tol = dtype == torch::kFloat32 ? 1e-6 : 4e-3;  // bf16 keeps 8 bits
      EXPECT_LT(max_diff(got, ref), tol) << "P " << P << " " << dtype;
      EXPECT_EQ(got.narrow(0, P, S).masked_select(visible.logical_not()).abs().sum().item<double>(), 0.0);
    }
  }
  // No visible key at all: uniform over the slots, as the additive mask gives.
  auto b = torch::randn({S});
  std::vector<int64_t> empty(S, -1);
  std::vector<float> scratch(kernels::scratch_floats(S));
  kernels::softmax_two_part(static_cast<float*>(nullptr), 0, b.data_ptr<float>(), S, empty.data(), qpos,
                            scale, scratch.data());
  EXPECT_LT(max_diff(b, torch::full({S}, 1.0 / S)), 1e-7);
}

// float64 runs the tensor-op softmax of the cached path, bfloat16 the fused kernel on bf16 bits
// (float32, the fused kernel on floats, is KVCachedDecodeEqualsFullRecompute).
TEST(Model, CachedDecodeInFloat64AndBf16MatchesFullRecompute) {
  for (auto dtype : {torch::kFloat64, torch::kBFloat16}) {
    CausalLM m = tiny_model(21, dtype);
    torch::NoGradGuard ng;
    std::vector<int64_t> seq = {5, 17, 3, 88, 42, 9, 60, 1, 33, 71, 2, 50};
    const int64_t T = static_cast<int64_t>(seq.size());
    auto full = m->forward(ids_of(seq), pos_of(0, T))[0];
    KVCache pc;
    m->forward(ids_of({seq.begin(), seq.begin() + 4}), pos_of(0, 4), &pc);
    KVCache cache = pc.to_prefix();
    auto two = [&](int64_t from, int64_t n) {
      return torch::tensor(std::vector<int64_t>(seq.begin() + from, seq.begin() + from + n)).unsqueeze(0).repeat({2, 1});
    };
    std::vector<torch::Tensor> got = {m->forward(two(4, 3), torch::arange(4, 7).unsqueeze(0).repeat({2, 1}), &cache)};
    for (int64_t t = 7; t < T; ++t)
      got.push_back(m->forward(two(t, 1), torch::full({2, 1}, t, torch::kInt64), &cache));
    auto cached = torch::cat(got, 1);  // (2, T - 4, V)
    // bf16: the cached and full paths round in different places; 0.039 to 0.094 (about 2.5% of
    // the largest logit) over six seeds, the same before the fused kernel.
    const double tol = dtype == torch::kFloat64 ? 1e-10 : 0.05 * full.abs().max().item<double>();
    for (int64_t r = 0; r < 2; ++r) EXPECT_LT(max_diff(cached[r], full.narrow(0, 4, T - 4)), tol) << dtype;
  }
}

TEST(KVCache, KeepRowsInPlaceEqualsSelectRows) {
  CausalLM m = tiny_model(4);
  torch::NoGradGuard ng;
  const int64_t N = 6, T = 3;
  auto ids = torch::randint(0, 97, {N, T}, torch::kInt64);
  auto pos = torch::arange(T).unsqueeze(0).repeat({N, 1});
  pos[2][2] = -1;  // one padded slot
  for (std::vector<int64_t> keep : {std::vector<int64_t>{1, 2, 3, 5}, std::vector<int64_t>{0, 2, 5},
                                    std::vector<int64_t>{0, 1, 2, 3, 4, 5}}) {
    KVCache a;
    m->forward(ids, pos, &a);
    a.ensure_capacity(8);
    m->forward(ids.narrow(1, 0, 1), torch::full({N, 1}, 3, torch::kInt64), &a);
    KVCache b = a;
    b.select_rows(torch::arange(N));  // a copy: keep_rows moves rows of a in place
    b.select_rows(torch::tensor(keep));
    a.keep_rows(keep);
    const int64_t M = static_cast<int64_t>(keep.size());
    ASSERT_EQ(a.rows(), M);
    EXPECT_TRUE(a.slot_pos.equal(b.slot_pos));
    for (size_t l = 0; l < a.k.size(); ++l) {
      EXPECT_TRUE(a.k[l].equal(b.k[l])) << l;
      EXPECT_TRUE(a.v[l].equal(b.v[l])) << l;
    }
    // Decoding on from both gives the same logits.
    auto next = torch::full({M, 1}, 7, torch::kInt64), p = torch::full({M, 1}, 4, torch::kInt64);
    EXPECT_TRUE(m->forward(next, p, &a).equal(m->forward(next, p, &b)));
  }
}

namespace {
// A float64 tiny model (biases, GQA 4/2, untied head) with a LoRA on every projection whose B is
// non-zero, so adapters change the output and both A and B get gradients.
CausalLM tiny_lora_model_f64(uint64_t seed) {
  CausalLM m = tiny_model(seed, torch::kFloat64);
  LoraConfig lc;
  lc.r = 2;
  lc.alpha = 4;
  m->add_lora(lc, seed + 1);
  m->to(torch::kFloat64);
  torch::NoGradGuard ng;
  for (auto& [n, t] : m->adapter_state()) t.normal_(0, 0.2);
  return m;
}
}  // namespace

TEST(Model, SharedPrefixForwardEqualsFullSequences) {
  CausalLM m = tiny_lora_model_f64(31);
  m->train();  // dropout 0: training mode must not change the values
  const std::vector<int64_t> prefix = {5, 17, 3, 88, 42, 9};
  const std::vector<std::vector<int64_t>> rest = {{60, 1, 33}, {71, 2, 50, 8, 8, 19, 4}, {13}};
  const int64_t P = 6, N = 3, S = 7, T = P + S;
  auto full_ids = torch::zeros({N, T}, torch::kInt64), full_pos = torch::full({N, T}, -1, torch::kInt64);
  auto ids = torch::zeros({N, S}, torch::kInt64), pos = torch::full({N, S}, -1, torch::kInt64);
  auto valid = torch::zeros({N, S}, torch::kFloat64);
  for (int64_t i = 0; i < N; ++i) {
    const int64_t L = static_cast<int64_t>(rest[i].size());
    std::vector<int64_t> row = prefix;
    row.insert(row.end(), rest[i].begin(), rest[i].end());
    full_ids[i].narrow(0, 0, P + L).copy_(torch::tensor(row));
    full_pos[i].narrow(0, 0, P + L).copy_(torch::arange(P + L));
    ids[i].narrow(0, 0, L).copy_(torch::tensor(rest[i]));
    pos[i].narrow(0, 0, L).copy_(torch::arange(P, P + L));
    valid[i].narrow(0, 0, L).fill_(1.0);
  }
  torch::manual_seed(5);
  auto w = torch::randn({N, S, 32}, torch::kFloat64) * valid.unsqueeze(-1);  // weights of valid tokens
  auto run = [&](bool shared, bool ckpt, torch::Tensor* hidden) {
    m->set_gradient_checkpointing(ckpt);
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    auto h = shared ? m->forward_hidden_shared_prefix(torch::tensor(prefix), ids, pos)
                    : m->forward_hidden(full_ids, full_pos).narrow(1, P, S);  // suffix positions
    *hidden = h.detach();
    (h * w).sum().backward();
    std::vector<torch::Tensor> g;
    for (auto& [n, t] : m->adapter_state()) g.push_back(t.grad().clone());
    return g;
  };
  torch::Tensor h_full, h_shared, h_ckpt;
  auto g_full = run(false, false, &h_full);
  auto g_shared = run(true, false, &h_shared);
  auto g_ckpt = run(true, true, &h_ckpt);
  auto vmask = valid.unsqueeze(-1);
  EXPECT_LT(max_diff(h_shared * vmask, h_full * vmask), 1e-12);
  EXPECT_LT(max_diff(h_ckpt * vmask, h_full * vmask), 1e-12);
  ASSERT_EQ(g_full.size(), g_shared.size());
  ASSERT_EQ(g_full.size(), 2u * 7u * 2u);  // A and B of 7 projections in 2 layers
  for (size_t i = 0; i < g_full.size(); ++i) {
    const double scale = std::max(1.0, g_full[i].abs().max().item<double>());
    EXPECT_GT(g_full[i].abs().max().item<double>(), 0) << i;
    EXPECT_LT(max_diff(g_shared[i], g_full[i]), 1e-10 * scale) << i;
    EXPECT_LT(max_diff(g_ckpt[i], g_full[i]), 1e-10 * scale) << i;
  }
  // Adapters off without grad (the reference policy) agrees as well, and differs from adapters on.
  torch::NoGradGuard ng;
  m->set_adapters_enabled(false);
  auto ref_full = m->forward_hidden(full_ids, full_pos).narrow(1, P, S) * vmask;
  auto ref_shared = m->forward_hidden_shared_prefix(torch::tensor(prefix), ids, pos) * vmask;
  m->set_adapters_enabled(true);
  EXPECT_LT(max_diff(ref_shared, ref_full), 1e-12);
  EXPECT_GT(max_diff(ref_shared, h_full * vmask), 1e-3);
}

TEST(Model, SharedPrefixForwardRejectsSuffixPositionsInsideThePrefix) {
  CausalLM m = tiny_model(32);
  torch::NoGradGuard ng;
  auto ids = torch::tensor(std::vector<int64_t>{1, 2}).unsqueeze(0);
  EXPECT_THROW(m->forward_hidden_shared_prefix(torch::tensor(std::vector<int64_t>{7, 8, 9}), ids,
                                               torch::tensor(std::vector<int64_t>{2, 3}).unsqueeze(0)),
               Error);
  EXPECT_NO_THROW(m->forward_hidden_shared_prefix(torch::tensor(std::vector<int64_t>{7, 8, 9}), ids,
                                                  torch::tensor(std::vector<int64_t>{3, -1}).unsqueeze(0)));
}

TEST(Lora, HashDropoutDropsAtRateScalesAndRepeatsItsMask) {
  const double p = 0.3;
  auto x = (torch::rand({1000, 1001}, torch::kFloat64) + 0.5).requires_grad_(true);  // odd count
  auto gen = at::detail::getDefaultCPUGenerator();
  auto state = gen.get_state();
  auto y = lora_dropout(x, p);
  auto kept = y.detach() != 0;
  const double dropped = 1.0 - kept.to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(dropped, p, 0.002);  // 1e6 draws: std 0.00046
  // Kept values are scaled by 1 / (1 - p) exactly as in float64.
  auto expect = torch::where(kept, x.detach() / (1 - p), torch::zeros_like(x));
  EXPECT_LT(max_diff(y, expect), 1e-15);
  // Backward applies the same mask.
  y.sum().backward();
  EXPECT_TRUE(x.grad().equal(torch::where(kept, torch::full_like(x, 1 / (1 - p)), torch::zeros_like(x))));
  // Restoring the generator state repeats the mask (gradient checkpointing); the next draw differs.
  auto next = lora_dropout(x.detach(), p) != 0;
  gen.set_state(state);
  EXPECT_TRUE((lora_dropout(x.detach(), p) != 0).equal(kept));
  EXPECT_FALSE(next.equal(kept));
  // bf16 keeps the rate too; p = 0 is the identity.
  auto yb = lora_dropout(torch::ones({200000}, torch::kBFloat16), 0.05);
  EXPECT_NEAR((yb == 0).to(torch::kFloat64).mean().item<double>(), 0.05, 0.003);
  EXPECT_TRUE(lora_dropout(x.detach(), 0.0).equal(x.detach()));
}

TEST(Model, SharedPrefixBf16WithLoraIsAsCloseToFloat32AsFullSequences) {
  // One LoRA model in float32 and in bf16. The bf16 shared-prefix forward (adapters and softmax in
  // bf16) must be as close to float32 as the bf16 full-sequence forward is, in the hidden states
  // and in the LoRA gradients (bf16 rounding alone moves this tiny model's gradients by tens of
  // percent, so the full-sequence bf16 run sets the tolerance).
  CausalLM m32 = tiny_model(33);
  LoraConfig lc;
  lc.r = 4;
  lc.alpha = 8;
  m32->add_lora(lc, 2);
  {
    torch::NoGradGuard ng;
    for (auto& [n, t] : m32->adapter_state()) t.normal_(0, 0.2);
  }
  CausalLM m16 = tiny_model(33, torch::kBFloat16);
  m16->add_lora(lc, 2);
  {
    torch::NoGradGuard ng;
    auto a = m32->adapter_state(), b = m16->adapter_state();
    for (size_t i = 0; i < a.size(); ++i) b[i].second.copy_(a[i].second);
  }
  const std::vector<int64_t> prefix = {5, 17, 3, 88, 42, 9, 60, 1};
  const std::vector<int64_t> rest = {33, 71, 2, 50};
  std::vector<int64_t> row = prefix;
  row.insert(row.end(), rest.begin(), rest.end());
  torch::manual_seed(9);
  auto w = torch::randn({4, 32});
  // Hidden states of the 4 suffix tokens and the flattened LoRA gradients of sum(h * w).
  auto run = [&](CausalLM& m, bool shared) {
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    torch::Tensor h;
    if (shared) {
      auto ids = torch::tensor(rest).unsqueeze(0).repeat({2, 1});
      auto pos = torch::arange(8, 12).unsqueeze(0).repeat({2, 1});
      h = m->forward_hidden_shared_prefix(torch::tensor(prefix), ids, pos)[1];  // row 1 of 2
    } else {
      h = m->forward_hidden(ids_of(row), pos_of(0, 12))[0].narrow(0, 8, 4);
    }
    (h.to(torch::kFloat32) * w).sum().backward();
    std::vector<torch::Tensor> g;
    for (auto& [n, t] : m->adapter_state()) g.push_back(t.grad().reshape({-1}));
    return std::make_pair(h.detach().to(torch::kFloat32), torch::cat(g));
  };
  auto [h32, g32] = run(m32, false);
  auto [h_full, g_full] = run(m16, false);
  auto [h_shared, g_shared] = run(m16, true);
  EXPECT_EQ(g_shared.scalar_type(), torch::kFloat32);  // fp32 adapters get fp32 gradients
  auto rel = [](const torch::Tensor& a, const torch::Tensor& b) {
    return ((a - b).norm() / b.norm()).item<double>();
  };
  const double h_err_full = rel(h_full, h32), h_err_shared = rel(h_shared, h32);
  const double g_err_full = rel(g_full, g32), g_err_shared = rel(g_shared, g32);
  EXPECT_LT(h_err_full, 0.05);
  EXPECT_LT(h_err_shared, 1.5 * h_err_full + 0.01) << h_err_full;
  EXPECT_LT(g_err_shared, 1.5 * g_err_full + 0.02) << g_err_full;
  std::printf("bf16 vs float32, relative L2: hidden full %.4f shared %.4f; LoRA grads full %.4f shared %.4f\n",
              h_err_full, h_err_shared, g_err_full, g_err_shared);
}

TEST(RowKernels, SiluMulEqualsTensorOps) {
  torch::manual_seed(9);
  const int64_t n = 1003;  // not a whole number of vectors
  auto g = torch::randn({n}) * 6, u = torch::randn({n}) * 2;
  auto out = torch::empty({n});
  kernels::silu_mul(g.data_ptr<float>(), u.data_ptr<float>(), out.data_ptr<float>(), n);
  auto ref = torch::nn::functional::silu(g) * u;
  EXPECT_LT(((out - ref).abs() / (ref.abs() + 1e-30)).max().item<double>(), 1e-6);
  // bf16: torch's bf16 silu rounds after exp, 1 + e and the division; the kernel does the same
  // (the exp itself may differ in its last float bit, which rarely moves a bf16 rounding).
  auto gb = g.to(torch::kBFloat16), ub = u.to(torch::kBFloat16), ob = torch::empty({n}, torch::kBFloat16);
  kernels::silu_mul(reinterpret_cast<const uint16_t*>(gb.data_ptr<at::BFloat16>()),
                    reinterpret_cast<const uint16_t*>(ub.data_ptr<at::BFloat16>()),
                    reinterpret_cast<uint16_t*>(ob.data_ptr<at::BFloat16>()), n);
  auto rb = (torch::nn::functional::silu(gb) * ub).to(torch::kFloat32);
  auto diff = (ob.to(torch::kFloat32) - rb).abs();
  EXPECT_LE((diff / (rb.abs() + 1e-30)).max().item<double>(), 1.0 / 64);
  EXPECT_LE(diff.gt(0).sum().item<int64_t>(), 2);  // 0 of 2^20 on an AVX-512 machine
}

// The caching CPU allocator: large blocks come back for the next allocation of a similar size,
// stay 64-byte aligned, keep data intact while in use, and the cache never holds more than its cap.
TEST(CpuAllocator, ReusesLargeBlocksWithinItsCap) {
  rlvr::install_caching_cpu_allocator(size_t(64) << 20);
  rlvr::release_cpu_cache();
  const auto s0 = rlvr::cpu_cache_stats();
  const int64_t n = (3 << 20) / 4;  // 3 MiB of float32
  {
    auto a = torch::full({n}, 1.5f);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data_ptr()) % 64, 0u);
    auto b = torch::arange(n, torch::kFloat32);  // a second live block, distinct
    EXPECT_NE(b.data_ptr(), a.data_ptr());
    EXPECT_EQ(a.sum().item<double>(), 1.5 * n);
    EXPECT_EQ(b[n - 1].item<float>(), static_cast<float>(n - 1));
  }
  const auto s1 = rlvr::cpu_cache_stats();
  EXPECT_EQ(s1.misses - s0.misses, 2);
  EXPECT_EQ(s1.live_bytes, s0.live_bytes);
  EXPECT_EQ(s1.cached_bytes, 2 * (4 << 20));  // two 4 MiB blocks (rounded to 2 MiB)
  {
    auto c = torch::zeros({n - 1000});  // a little smaller: reuses a cached block
    EXPECT_EQ(rlvr::cpu_cache_stats().hits - s1.hits, 1);
    EXPECT_EQ(c.abs().sum().item<double>(), 0.0);  // zeros() really zeroes a reused block
  }
  {
    auto big = torch::empty({int64_t(10) << 20});  // 40 MiB: no cached block is close
    EXPECT_EQ(rlvr::cpu_cache_stats().misses - s1.misses, 1);
    auto small = torch::ones({100});  // small blocks bypass the cache
    EXPECT_EQ(rlvr::cpu_cache_stats().misses - s1.misses, 1);
  }
  // 40 + 8 MiB cached: within the 64 MiB cap. Another 40 MiB block freed would exceed it, so
  // the largest blocks are dropped until the cache fits.
  { auto big2 = torch::empty({int64_t(12) << 20}); }
  EXPECT_LE(rlvr::cpu_cache_stats().cached_bytes, int64_t(64) << 20);
  rlvr::release_cpu_cache();
  EXPECT_EQ(rlvr::cpu_cache_stats().cached_bytes, 0);
  rlvr::install_caching_cpu_allocator(0);  // cap 0: nothing is kept
  { auto d = torch::empty({n}); }
  EXPECT_EQ(rlvr::cpu_cache_stats().cached_bytes, 0);
}

// "auto" is the checkpoint's dtype everywhere (CLI, recipes, bench); float16 runs as float32 on CPU.
TEST(Model, ResolveDtypeAutoIsTheCheckpoints) {
  ModelConfig c;
  c.torch_dtype = "bfloat16";
  EXPECT_EQ(resolve_dtype("auto", c, torch::kCPU), torch::kBFloat16);
  EXPECT_EQ(resolve_dtype("float32", c, torch::kCPU), torch::kFloat32);
  c.torch_dtype = "float32";
  EXPECT_EQ(resolve_dtype("auto", c, torch::Device(torch::kCUDA)), torch::kFloat32);
  c.torch_dtype = "float16";
  EXPECT_EQ(resolve_dtype("auto", c, torch::kCPU), torch::kFloat32);
  EXPECT_EQ(resolve_dtype("auto", c, torch::Device(torch::kCUDA)), torch::kFloat16);
  EXPECT_THROW(resolve_dtype("fp8", c, torch::kCPU), Error);
  // An explicit float16 on CPU is one line, not torch's "not implemented for 'Half'" later
  // (bench generate --dtype float16 reached torch's message before).
  EXPECT_EQ(resolve_dtype("float16", c, torch::Device(torch::kCUDA)), torch::kFloat16);
  try {
    resolve_dtype("float16", c, torch::kCPU);
    ADD_FAILURE() << "float16 on CPU was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "dtype float16: float16 does not run on CPU; use bfloat16 or float32 (or a CUDA device)");
  }
}

TEST(Loader, LoadsModelTokenizerAndMergedEosIds) {
  EXPECT_EQ(merge_eos_ids({258, 5}, {5, 7, 258}), (std::vector<int64_t>{258, 5, 7}));
  auto dir = test::scratch_dir("loader");
  CausalLM m = make_random_model(test::tiny_qwen2_config(259), 13);  // the byte-level tokenizer's 259 ids
  save_model(m, dir, torch::kFloat32);
  auto cfg = read_json_file(dir + "/config.json");
  cfg["eos_token_id"] = 5;
  write_json_file(dir + "/config.json", cfg);
  LoadOptions o;
  o.tokenizer_needed_by = "this test";
  try {
    load_model_dir(dir, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tokenizer.json; this test needs"), std::string::npos) << e.what();
  }
  write_byte_level_tokenizer(dir);
  LoadedModel lm = load_model_dir(dir, o);
  EXPECT_EQ(lm.dtype, torch::kFloat32);  // auto: the checkpoint's
  EXPECT_EQ(lm.dir, dir);
  ASSERT_TRUE(lm.has_tokenizer());
  EXPECT_EQ(lm.eos_ids, (std::vector<int64_t>{5, 258}));  // config.json's, then <|im_end|>
}

// The tokenizer next to a model must produce only ids the embedding has rows for; the EOS ids of
// generation_config.json must be tokens.
TEST(Loader, TokenizerMustFitTheModelsVocabulary) {
  auto dir = test::scratch_dir("loader_vocab");
  CausalLM m = tiny_model(15);  // vocab_size 97
  save_model(m, dir, torch::kFloat32);
  write_byte_level_tokenizer(dir);  // ids 0..258
  expect_one_line([&] { load_model_dir(dir, LoadOptions{}); },
                  {dir + "/tokenizer.json: token ids go up to 258 (added tokens included) but the model's "
                         "embedding has vocab_size 97 rows (config.json)"});
  CausalLM fits = make_random_model(test::tiny_qwen2_config(259), 15);
  save_model(fits, dir, torch::kFloat32);
  write_json_file(dir + "/generation_config.json", {{"eos_token_id", 259}});
  expect_one_line([&] { load_model_dir(dir, LoadOptions{}); },
                  {dir + "/generation_config.json", "\"eos_token_id\" must be token ids below 259, got 259"});
  write_json_file(dir + "/generation_config.json", {{"eos_token_id", 258}});
  EXPECT_EQ(load_model_dir(dir, LoadOptions{}).eos_ids, (std::vector<int64_t>{258}));
}

// ---- 4-bit checkpoints (issue 16): rlvr quantize, the bitsandbytes layout, loading it back ----

namespace {
// A bf16 model directory whose Linear weights have element counts that are not multiples of 64
// (gate / up / down: 451 x 37 = 16687, odd, 261 blocks, so two nested blocks), one all-zero
// 64-value block (layer 0 gate_proj, elements 64..127) and one outlier row (layer 0 q_proj row 3
// times 50); the byte-level tokenizer beside it.
std::string quant_test_model(const std::string& name) {
  const std::string dir = test::scratch_dir(name);
  ModelConfig c = test::tiny_qwen2_config(259);
  c.hidden_size = 37;
  c.head_dim = 10;
  c.intermediate_size = 451;
  c.torch_dtype = "bfloat16";
  CausalLM m = make_random_model(c, 21);
  {
    torch::NoGradGuard ng;
    auto& layer = *m->model->layers->ptr<DecoderLayerImpl>(0);
    layer.mlp->gate_proj->weight.view({-1}).narrow(0, 64, 64).zero_();
    layer.self_attn->q_proj->weight[3].mul_(50.0);
  }
  save_model(m, dir, torch::kBFloat16);
  write_byte_level_tokenizer(dir);
  return dir;
}

const char* const kLinearNames[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

// Runs `rlvr quantize` and returns the output folder.
std::string run_quantize(const std::string& in, const std::string& name, const std::string& flags = "") {
  const std::string out = test::scratch_dir(name) + "/q";
  auto r = test::run_cmd(test::rlvr_bin() + " quantize --model " + in + " --out " + out + " " + flags);
  EXPECT_EQ(r.status, 0) << r.err;
  return out;
}

std::vector<uint8_t> bytes_of(const torch::Tensor& t) {
  auto c = t.contiguous();
  const auto* p = static_cast<const uint8_t*>(c.data_ptr());
  return std::vector<uint8_t>(p, p + c.numel() * c.element_size());
}
template <typename T>
std::vector<uint8_t> bytes_of(const std::vector<T>& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  return std::vector<uint8_t>(p, p + v.size() * sizeof(T));
}
template <typename T, size_t N>
std::vector<uint8_t> bytes_of(const std::array<T, N>& v) {
  return bytes_of(std::vector<T>(v.begin(), v.end()));
}

nlohmann::json state_json(const SafetensorsFile& f, const std::string& key) {
  const auto b = bytes_of(f.get(key));
  return nlohmann::json::parse(std::string(b.begin(), b.end()));
}

// Every Linear weight of `out` holds what rlvr::quant computes from the original bf16 weight.
void expect_layout_equals_quant(const std::string& in, const std::string& out, quant::QuantType type, bool nested) {
  const Checkpoint src = Checkpoint::open(in);
  const SafetensorsFile f = SafetensorsFile::open(out + "/model.safetensors");
  const std::string tname = quant::quant_type_name(type);
  for (int layer = 0; layer < 2; ++layer) {
    for (const char* lin : kLinearNames) {
      const std::string w = "model.layers." + std::to_string(layer) + "." + lin + ".weight";
      SCOPED_TRACE(w);
      const torch::Tensor orig = src.get(w).to(torch::kFloat32).contiguous();
      const auto ref = quant::quantize_4bit(orig.data_ptr<float>(), orig.numel(), type, 64);
      EXPECT_EQ(f.get(w).sizes(), (std::vector<int64_t>{(orig.numel() + 1) / 2, 1}));
      EXPECT_EQ(bytes_of(f.get(w)), ref.packed);
      EXPECT_EQ(bytes_of(f.get(w + ".quant_map")), bytes_of(quant::code_table(type)));
      const auto state = state_json(f, w + ".quant_state.bitsandbytes__" + tname);
      EXPECT_EQ(state["quant_type"], tname);
      EXPECT_EQ(state["blocksize"], 64);
      EXPECT_EQ(state["dtype"], "bfloat16");
      EXPECT_EQ(state["shape"], nlohmann::json(orig.sizes().vec()));
      if (!nested) {
        EXPECT_EQ(bytes_of(f.get(w + ".absmax")), bytes_of(ref.absmax));
        EXPECT_FALSE(f.has(w + ".nested_absmax"));
        continue;
      }
      const auto dq = quant::double_quantize(ref.absmax);
      EXPECT_EQ(bytes_of(f.get(w + ".absmax")), dq.q.codes);
      EXPECT_EQ(bytes_of(f.get(w + ".nested_absmax")), bytes_of(dq.q.absmax));
      EXPECT_EQ(bytes_of(f.get(w + ".nested_quant_map")), bytes_of(quant::dynamic_map()));
      EXPECT_EQ(state["nested_blocksize"], 256);
      EXPECT_EQ(state["nested_dtype"], "float32");
      EXPECT_EQ(state["nested_offset"].get<double>(), static_cast<double>(dq.offset));
    }
  }
}
}  // namespace

// Acceptance 1 of issue 16: codes and statistics equal to the quantization functions (which follow
// bitsandbytes' kernels, tests/test_quant.cpp) on the same weights; embeddings and norms as stored.
TEST(Quant4bit, QuantizeWritesBitsandbytesLayoutEqualToTheQuantFunctions) {
  const std::string in = quant_test_model("q4_layout_in");
  {
    const torch::Tensor gate = Checkpoint::open(in).get("model.layers.0.mlp.gate_proj.weight").to(torch::kFloat32);
    const auto q = quant::quantize_4bit(gate.contiguous().data_ptr<float>(), gate.numel());
    ASSERT_EQ(q.absmax[1], 0.0f);  // the all-zero block is there
    ASSERT_EQ(gate.numel() % 2, 1);
  }
  const std::string out = run_quantize(in, "q4_layout_nf4");
  expect_layout_equals_quant(in, out, quant::QuantType::nf4, true);
  const auto cfg = read_json_file(out + "/config.json");
  const auto& qc = cfg.at("quantization_config");
  EXPECT_EQ(qc.at("quant_method"), "bitsandbytes");
  EXPECT_EQ(qc.at("load_in_4bit"), true);
  EXPECT_EQ(qc.at("load_in_8bit"), false);
  EXPECT_EQ(qc.at("bnb_4bit_quant_type"), "nf4");
  EXPECT_EQ(qc.at("bnb_4bit_use_double_quant"), true);
  EXPECT_EQ(qc.at("bnb_4bit_compute_dtype"), "bfloat16");
  EXPECT_EQ(qc.at("bnb_4bit_quant_storage"), "uint8");
  EXPECT_EQ(cfg.at("torch_dtype"), "bfloat16");
  EXPECT_EQ(read_text_file(out + "/tokenizer.json"), read_text_file(in + "/tokenizer.json"));
  const SafetensorsFile f = SafetensorsFile::open(out + "/model.safetensors");
  for (const char* name : {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
                           "model.layers.1.self_attn.k_proj.bias"})
    EXPECT_EQ(bytes_of(f.get(name)), bytes_of(Checkpoint::open(in).get(name))) << name;
  expect_layout_equals_quant(in, run_quantize(in, "q4_layout_fp4", "--quant-type fp4 --no-double-quant"),
                             quant::QuantType::fp4, false);
  // Bad input: one line each (status 1), a bad flag value is a usage error (status 2).
  const auto quantize = [&](const std::string& from, const std::string& to, const std::string& flags = "") {
    return test::run_cmd(test::rlvr_bin() + " quantize --model " + from + " --out " + to + " " + flags);
  };
  const std::pair<test::RunResult, std::string> bad[] = {
      {quantize(in, out), "quantize: --out " + out + " exists and is not an empty directory"},
      {quantize(out, out + "2"), "quantize: --model " + out + " is already 4-bit"},
      {quantize(out + "/nothing", out + "2"), "is not a model directory (no config.json)"}};
  for (const auto& [r, msg] : bad) {
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.err.find(msg), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_EQ(quantize(in, out + "2", "--quant-type int4").status, 2);
}

namespace {
void expect_same_4bit(const CausalLM& a, const CausalLM& b) {
  const auto qa = a->quantized_weights(), qb = b->quantized_weights();
  ASSERT_EQ(qa.size(), 14u);
  ASSERT_EQ(qa.size(), qb.size());
  for (size_t i = 0; i < qa.size(); ++i) {
    SCOPED_TRACE(qa[i].first);
    EXPECT_EQ(qa[i].first, qb[i].first);
    const QuantizedWeight &x = *qa[i].second, &y = *qb[i].second;
    EXPECT_TRUE(x.type == y.type && x.blocksize == y.blocksize && x.out == y.out && x.in == y.in && x.dtype == y.dtype);
    EXPECT_EQ(x.nested, y.nested);
    EXPECT_EQ(x.nested_blocksize, y.nested_blocksize);
    EXPECT_EQ(bytes_of(std::vector<float>{x.offset}), bytes_of(std::vector<float>{y.offset}));
    for (auto [tx, ty] : {std::pair{x.packed, y.packed}, {x.quant_map, y.quant_map}, {x.absmax, y.absmax},
                          {x.nested_codes, y.nested_codes}, {x.nested_absmax, y.nested_absmax},
                          {x.nested_map, y.nested_map}}) {
      ASSERT_EQ(tx.defined(), ty.defined());
      if (tx.defined()) EXPECT_EQ(bytes_of(tx), bytes_of(ty));
    }
  }
}
}  // namespace

// Acceptance 2 of issue 16: the directory rlvr quantize writes loads to bitwise the same 4-bit
// weights and logits as quantizing the original at load.
TEST(Quant4bit, QuantizedDirectoryLoadsBitwiseAsQuantizeAtLoad) {
  const std::string in = quant_test_model("q4_roundtrip_in");
  for (const bool nested : {true, false}) {
    const std::string out = run_quantize(in, nested ? "q4_roundtrip_dq" : "q4_roundtrip_plain",
                                         nested ? "" : "--no-double-quant");
    Quant4bitOptions q4;
    q4.enabled = true;
    q4.double_quant = nested;
    CausalLM at_load = load_model(in, torch::kBFloat16, torch::kCPU, q4);
    CausalLM stored = load_model(out, torch::kBFloat16, torch::kCPU);  // 4-bit whatever q4 says
    ASSERT_TRUE(stored->is_4bit());
    expect_same_4bit(at_load, stored);
    const auto ids = torch::tensor({5, 17, 200, 3, 99}).unsqueeze(0);
    const auto pos = torch::arange(5).unsqueeze(0);
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::equal(at_load->forward(ids, pos), stored->forward(ids, pos)));
    // The same model from a bf16 load is close but not equal: the weights really are 4-bit.
    CausalLM full = load_model(in, torch::kBFloat16, torch::kCPU);
    EXPECT_FALSE(torch::equal(full->forward(ids, pos), stored->forward(ids, pos)));
  }
}

namespace {
// Rewrites `dir`'s model.safetensors through `edit` (tensors copied out of the mapping first).
template <typename Fn>
void edit_tensors(const std::string& dir, Fn edit) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  {
    const SafetensorsFile f = SafetensorsFile::open(dir + "/model.safetensors");
    for (const auto& e : f.entries()) tensors.emplace_back(e.name, f.get(e.name).clone());
  }
  edit(tensors);
  save_safetensors(dir + "/model.safetensors", tensors);
}
}  // namespace

// A corrupted 4-bit checkpoint fails to load with one line naming the file, the tensor and what is
// wrong; so do a quant type other than the stored one and quantization configs rlvr cannot read.
TEST(Quant4bit, CorruptCheckpointsAndConfigsGiveOneLineErrors) {
  const std::string in = quant_test_model("q4_corrupt_in");
  const std::string dir = test::scratch_dir("q4_corrupt");
  Quant4bitOptions q4;
  q4.enabled = true;
  CausalLM quantized = load_model(in, torch::kBFloat16, torch::kCPU, q4);
  save_model(quantized, dir, torch::kBFloat16);
  const std::string w = "model.layers.1.mlp.up_proj.weight";
  const auto load = [&] { load_model(dir, torch::kBFloat16, torch::kCPU); };
  edit_tensors(dir, [&](auto& t) {
    for (auto& [name, v] : t)
      if (name == w + ".absmax") v = v.narrow(0, 0, v.size(0) - 1);
  });
  expect_one_line(load, {dir + ": tensor '" + w + ".absmax' has shape [260]",
                         "the quant state implies [261]"});
  edit_tensors(dir, [&](auto& t) {
    t.erase(std::remove_if(t.begin(), t.end(), [&](const auto& p) { return p.first == w + ".absmax"; }), t.end());
  });
  expect_one_line(load, {"missing tensor '" + w + ".absmax'"});
  edit_tensors(dir, [&](auto& t) {
    for (auto& [name, v] : t)
      if (name == "model.layers.0.self_attn.q_proj.weight.quant_state.bitsandbytes__nf4") {
        std::string s = R"({"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [40, 38]})";
        v = torch::from_blob(s.data(), {static_cast<int64_t>(s.size())}, torch::kUInt8).clone();
      }
  });
  expect_one_line(load, {"tensor 'model.layers.0.self_attn.q_proj.weight' has shape [40, 38] but config.json "
                         "implies [40, 37]"});
  q4.type = quant::QuantType::fp4;
  expect_one_line([&] { load_model(dir, torch::kBFloat16, torch::kCPU, q4); },
                  {dir, "the checkpoint is nf4 4-bit", "fp4 was asked for"});
  const auto cfg = read_json_file(dir + "/config.json");
  const std::string src = dir + "/config.json";
  const std::pair<std::pair<const char*, nlohmann::json>, const char*> bad[] = {
      {{"quant_method", "gptq"}, "quantization_config.quant_method 'gptq' is not supported"},
      {{"load_in_8bit", true}, "quantization_config.load_in_8bit is true"},
      {{"bnb_4bit_quant_storage", "bfloat16"}, "quantization_config.bnb_4bit_quant_storage 'bfloat16'"},
      {{"bnb_4bit_quant_type", "int4"}, "quantization_config.bnb_4bit_quant_type 'int4' is unknown"}};
  for (const auto& [kv, msg] : bad) {
    auto j = cfg;
    j["quantization_config"][kv.first] = kv.second;
    expect_one_line([&] { ModelConfig::from_json(j, src); }, {src, msg});
  }
  // A Linear stored without a quant state (transformers' llm_int8_skip_modules) loads as a float weight.
  save_model(quantized, dir, torch::kBFloat16);
  const std::string kept = "model.layers.0.mlp.down_proj.weight";
  edit_tensors(dir, [&](auto& t) {
    t.erase(std::remove_if(t.begin(), t.end(), [&](const auto& p) { return p.first.rfind(kept, 0) == 0; }), t.end());
    t.emplace_back(kept, Checkpoint::open(in).get(kept).clone());
  });
  CausalLM partial = load_model(dir, torch::kBFloat16, torch::kCPU);
  EXPECT_EQ(partial->quantized_weights().size(), 13u);
  EXPECT_TRUE(torch::equal(partial->model->layers->ptr<DecoderLayerImpl>(0)->mlp->down_proj->weight,
                           Checkpoint::open(in).get(kept)));
  // quantization_config survives from_json -> to_json.
  EXPECT_EQ(ModelConfig::from_json(cfg, src).to_json().at("quantization_config"), cfg.at("quantization_config"));
}
