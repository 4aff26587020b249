// Golden tests against Hugging Face transformers: scripts/golden_tiny_qwen2.py writes a tiny random
// Qwen2 (q/k/v biases, non-unit norms, an untied lm_head, RoPE theta 1e6) with save_pretrained,
// the logits transformers computes for a few prompts, its greedy continuations, and a PEFT LoRA
// adapter with the logits through it. rlvr loads the same files and must agree: logits within
// 1e-4, greedy tokens exactly, one prompt at a time, as a right-padded batch and through the KV
// cache, on CPU and (when there is one) on the GPU.
// The fixture lives in tests/fixtures/tiny-qwen2-golden (RLVR_GOLDEN_DIR overrides); while it is
// absent every test here skips and says how to make it.
#include <gtest/gtest.h>

#include <cstdlib>

#include "rlvr/core/files.h"
#include "rlvr/engine/engine.h"
#include "rlvr/model/qwen2.h"
#include "testlib.h"

using namespace rlvr;

namespace {

std::string golden_dir() {
  const char* env = std::getenv("RLVR_GOLDEN_DIR");
  return env && *env ? std::string(env) : std::string(RLVR_FIXTURES) + "/tiny-qwen2-golden";
}

class Golden : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = golden_dir();
    if (!file_exists(dir_ + "/golden.json"))
      GTEST_SKIP() << "no golden fixture at " << dir_
                   << " (make one with: python3 scripts/golden_tiny_qwen2.py " << dir_
                   << "; needs torch + transformers, e.g. on the GPU machine via scripts/device-check.sh)";
    golden_ = read_json_file(dir_ + "/golden.json");
    prompts_ = golden_.at("prompts").get<std::vector<std::vector<int64_t>>>();
  }
  // (T, V) float64 logits transformers gave for prompt p (key "logits" or "adapter_logits").
  torch::Tensor expected(const char* key, size_t p) const {
    auto rows = golden_.at(key).at(p).get<std::vector<std::vector<double>>>();
    std::vector<torch::Tensor> t;
    for (const auto& r : rows) t.push_back(torch::tensor(r, torch::kFloat64));
    return torch::stack(t);
  }
  std::string dir_;
  nlohmann::json golden_;
  std::vector<std::vector<int64_t>> prompts_;
};

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kCPU, torch::kFloat64) - b.to(torch::kCPU, torch::kFloat64)).abs().max().item<double>();
}

torch::Tensor row(const std::vector<int64_t>& v, const torch::Device& dev) {
  return torch::tensor(v).unsqueeze(0).to(dev);
}
torch::Tensor positions(int64_t from, int64_t n, const torch::Device& dev) {
  return torch::arange(from, from + n).unsqueeze(0).to(dev);
}

std::vector<torch::Device> devices() {
  std::vector<torch::Device> d = {torch::kCPU};
  if (torch::cuda::is_available()) d.emplace_back(torch::kCUDA, 0);
  return d;
}

constexpr double kTol = 1e-4;

}  // namespace

TEST_F(Golden, ConfigIsReadAsTransformersWroteIt) {
  ModelConfig c = ModelConfig::load(dir_);
  const auto& g = golden_.at("config");
  EXPECT_EQ(c.hidden_size, g.at("hidden_size").get<int64_t>());
  EXPECT_EQ(c.num_key_value_heads, g.at("num_key_value_heads").get<int64_t>());
  EXPECT_EQ(c.head_dim, g.at("head_dim").get<int64_t>());
  EXPECT_EQ(c.vocab_size, g.at("vocab_size").get<int64_t>());
  EXPECT_DOUBLE_EQ(c.rope_theta, g.at("rope_theta").get<double>());
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, g.at("rms_norm_eps").get<double>());
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_TRUE(c.attention_bias);
}

TEST_F(Golden, LogitsMatchTransformers) {
  for (const auto& dev : devices()) {
    CausalLM m = load_model(dir_, torch::kFloat32, dev);
    m->eval();
    torch::NoGradGuard ng;
    for (size_t p = 0; p < prompts_.size(); ++p) {
      const int64_t T = static_cast<int64_t>(prompts_[p].size());
      auto logits = m->forward(row(prompts_[p], dev), positions(0, T, dev))[0];
      EXPECT_LT(max_diff(logits, expected("logits", p)), kTol) << "prompt " << p << " on " << dev;
    }
  }
}

TEST_F(Golden, RaggedBatchAndKVCacheMatchTransformers) {
  for (const auto& dev : devices()) {
    CausalLM m = load_model(dir_, torch::kFloat32, dev);
    m->eval();
    torch::NoGradGuard ng;
    const int64_t N = static_cast<int64_t>(prompts_.size());
    int64_t T = 0;
    for (const auto& p : prompts_) T = std::max<int64_t>(T, static_cast<int64_t>(p.size()));
    auto ids = torch::zeros({N, T}, torch::kInt64);
    auto pos = torch::full({N, T}, -1, torch::kInt64);
    for (int64_t i = 0; i < N; ++i) {
      const int64_t len = static_cast<int64_t>(prompts_[i].size());
      ids[i].narrow(0, 0, len).copy_(torch::tensor(prompts_[i]));
      pos[i].narrow(0, 0, len).copy_(torch::arange(len));
    }
    auto batch = m->forward(ids.to(dev), pos.to(dev));  // (N, T, V), right-padded
    for (int64_t i = 0; i < N; ++i) {
      const int64_t len = static_cast<int64_t>(prompts_[i].size());
      EXPECT_LT(max_diff(batch[i].narrow(0, 0, len), expected("logits", i)), kTol) << "row " << i << " on " << dev;
    }
    // One token at a time through the KV cache: the decode path.
    for (size_t p = 0; p < prompts_.size(); ++p) {
      KVCache cache;
      auto want = expected("logits", p);
      for (int64_t t = 0; t < static_cast<int64_t>(prompts_[p].size()); ++t) {
        auto l = m->forward(row({prompts_[p][t]}, dev), positions(t, 1, dev), &cache)[0][0];
        EXPECT_LT(max_diff(l, want[t]), kTol) << "prompt " << p << " position " << t << " on " << dev;
      }
    }
  }
}

TEST_F(Golden, GreedyMatchesTransformers) {
  auto want = golden_.at("greedy").get<std::vector<std::vector<int64_t>>>();
  ASSERT_EQ(want.size(), prompts_.size());
  for (const auto& dev : devices()) {
    CausalLM m = load_model(dir_, torch::kFloat32, dev);
    m->eval();
    Engine engine(m);
    GenerateRequest req;
    req.prompts = prompts_;
    req.max_new_tokens = static_cast<int64_t>(want[0].size());
    req.sampling.temperature = 0;
    auto comps = engine.generate(req);
    ASSERT_EQ(comps.size(), want.size());
    for (size_t p = 0; p < want.size(); ++p) EXPECT_EQ(comps[p].ids, want[p]) << "prompt " << p << " on " << dev;
    // The tokens every prompt starts with as the engine's shared prefix (each keeps one of its own).
    size_t common = prompts_[0].size() - 1;
    for (const auto& p : prompts_) {
      size_t k = 0;
      while (k < common && k + 1 < p.size() && p[k] == prompts_[0][k]) ++k;
      common = k;
    }
    if (common == 0) continue;
    req.shared_prefix.assign(prompts_[0].begin(), prompts_[0].begin() + static_cast<int64_t>(common));
    for (auto& p : req.prompts) p.erase(p.begin(), p.begin() + static_cast<int64_t>(common));
    comps = engine.generate(req);
    ASSERT_EQ(comps.size(), want.size());
    for (size_t p = 0; p < want.size(); ++p)
      EXPECT_EQ(comps[p].ids, want[p]) << "prompt " << p << " with a shared prefix on " << dev;
  }
}

TEST_F(Golden, PeftAdapterMatchesTransformers) {
  const std::string adapter = dir_ + "/adapter";
  if (!golden_.contains("adapter_logits") || !file_exists(adapter + "/adapter_config.json"))
    GTEST_SKIP() << "the fixture has no adapter";
  for (const auto& dev : devices()) {
    CausalLM m = load_model(dir_, torch::kFloat32, dev);
    load_adapter(m, adapter);
    m->to(dev);
    m->eval();
    torch::NoGradGuard ng;
    for (size_t p = 0; p < prompts_.size(); ++p) {
      const int64_t T = static_cast<int64_t>(prompts_[p].size());
      auto logits = m->forward(row(prompts_[p], dev), positions(0, T, dev))[0];
      EXPECT_LT(max_diff(logits, expected("adapter_logits", p)), kTol) << "prompt " << p << " on " << dev;
      // Adapters off: the base model's logits again.
      m->set_adapters_enabled(false);
      auto base = m->forward(row(prompts_[p], dev), positions(0, T, dev))[0];
      m->set_adapters_enabled(true);
      EXPECT_LT(max_diff(base, expected("logits", p)), kTol) << "prompt " << p << " on " << dev;
    }
  }
}
