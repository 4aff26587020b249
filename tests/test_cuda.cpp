// CUDA tests: on a GPU the model, the engine and LoRA training give what they give on CPU.
// Forward in float32 matches tightly, bf16 within the bound CPU bf16 is held to; greedy decoding
// of stories260K and seeded sampling pick the same tokens; LoRA gradients match CPU, and
// gradient checkpointing replays the GPU's dropout masks. Every test skips without CUDA (a
// CPU-only libtorch or no GPU), so this binary passes on CPU machines; scripts/device-check.sh
// runs it where there is a GPU.
#include <gtest/gtest.h>

#include "rlvr/core/files.h"
#include "rlvr/engine/engine.h"
#include "rlvr/model/qwen2.h"
#include "rlvr/rl/logprobs.h"
#include "testlib.h"
#include "tiny_qwen2.h"

using namespace rlvr;

namespace {

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available())
      GTEST_SKIP() << "CUDA is not available (CPU-only libtorch or no GPU); nothing to compare";
  }
  const torch::Device gpu{torch::kCUDA, 0};
};

ModelConfig tiny_config() { return test::tiny_qwen2_config(); }

// Random model on CPU whose biases and norms are non-trivial too (as in test_model.cpp).
CausalLM tiny_model(uint64_t seed, torch::Dtype dtype = torch::kFloat32) {
  CausalLM m = make_random_model(tiny_config(), seed);
  torch::NoGradGuard ng;
  auto gen = at::detail::createCPUGenerator(seed + 100);
  for (auto& [name, p] : m->base_state())
    if (name.find("bias") != std::string::npos || name.find("norm") != std::string::npos)
      p.add_(torch::randn(p.sizes(), gen, p.options()) * 0.1);
  m->to(dtype);
  m->eval();
  return m;
}

// The same weights on `dev` (a fresh copy: a module's to() moves it in place).
CausalLM copy_to(CausalLM& src, const torch::Device& dev, torch::Dtype dtype = torch::kFloat32) {
  CausalLM m(src->config());
  torch::NoGradGuard ng;
  auto from = src->base_state();
  auto to = m->base_state();
  for (size_t i = 0; i < to.size(); ++i) to[i].second.copy_(from[i].second);
  m->to(dev, dtype);
  m->eval();
  return m;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kCPU, torch::kFloat64) - b.to(torch::kCPU, torch::kFloat64)).abs().max().item<double>();
}

// Right-padded ragged batch: ids and positions (-1 on padding).
std::pair<torch::Tensor, torch::Tensor> ragged(const std::vector<std::vector<int64_t>>& seqs) {
  size_t T = 0;
  for (const auto& s : seqs) T = std::max(T, s.size());
  const int64_t N = static_cast<int64_t>(seqs.size());
  auto ids = torch::zeros({N, static_cast<int64_t>(T)}, torch::kInt64);
  auto pos = torch::full({N, static_cast<int64_t>(T)}, -1, torch::kInt64);
  for (int64_t i = 0; i < N; ++i) {
    const int64_t len = static_cast<int64_t>(seqs[i].size());
    ids[i].narrow(0, 0, len).copy_(torch::tensor(seqs[i]));
    pos[i].narrow(0, 0, len).copy_(torch::arange(len));
  }
  return {ids, pos};
}

const std::vector<std::vector<int64_t>> kSeqs = {{4, 8, 15, 16, 23, 42}, {7, 1}, {9, 9, 50, 60}};

}  // namespace

TEST_F(Cuda, ForwardMatchesCpuInFloat32) {
  CausalLM cpu = tiny_model(1);
  CausalLM cuda = copy_to(cpu, gpu);
  torch::NoGradGuard ng;
  auto [ids, pos] = ragged(kSeqs);
  auto a = cpu->forward(ids, pos);
  auto b = cuda->forward(ids.to(gpu), pos.to(gpu));
  ASSERT_TRUE(b.is_cuda());
  for (size_t i = 0; i < kSeqs.size(); ++i) {
    const int64_t len = static_cast<int64_t>(kSeqs[i].size());
    EXPECT_LT(max_diff(a[i].narrow(0, 0, len), b[i].narrow(0, 0, len)), 1e-4) << "row " << i;
  }
  // KV-cached path with a shared prefix: prefix, then every row decodes at its own position.
  auto cached = [&](CausalLM& m, const torch::Device& dev) {
    KVCache pc;
    m->forward(torch::tensor(std::vector<int64_t>{3, 5, 7}).unsqueeze(0).to(dev),
               torch::arange(3).unsqueeze(0).to(dev), &pc);
    KVCache c = pc.to_prefix();
    auto [i2, p2] = ragged(kSeqs);
    p2 = torch::where(p2 >= 0, p2 + 3, p2);
    auto first = m->forward(i2.to(dev), p2.to(dev), &c);
    auto step = m->forward(torch::full({3, 1}, 11, torch::kInt64).to(dev),
                           torch::tensor(std::vector<int64_t>{9, 5, 7}).unsqueeze(1).to(dev), &c);
    return std::make_pair(first, step);
  };
  auto [fa, sa] = cached(cpu, torch::kCPU);
  auto [fb, sb] = cached(cuda, gpu);
  for (size_t i = 0; i < kSeqs.size(); ++i) {
    const int64_t len = static_cast<int64_t>(kSeqs[i].size());
    EXPECT_LT(max_diff(fa[i].narrow(0, 0, len), fb[i].narrow(0, 0, len)), 1e-4) << "row " << i;
  }
  EXPECT_LT(max_diff(sa, sb), 1e-4);
}

TEST_F(Cuda, Bf16IsCloseToFloat32) {
  CausalLM cpu = tiny_model(5);
  CausalLM cuda16 = copy_to(cpu, gpu, torch::kBFloat16);
  torch::NoGradGuard ng;
  auto [ids, pos] = ragged(kSeqs);
  auto a = cpu->forward(ids, pos);
  auto b = cuda16->forward(ids.to(gpu), pos.to(gpu));
  EXPECT_EQ(b.scalar_type(), torch::kFloat32);  // logits come back in float32
  for (size_t i = 0; i < kSeqs.size(); ++i) {
    const int64_t len = static_cast<int64_t>(kSeqs[i].size());
    auto ra = a[i].narrow(0, 0, len), rb = b[i].narrow(0, 0, len);
    // The bound test_model.cpp holds CPU bf16 to.
    EXPECT_LT(max_diff(ra, rb), 0.1 * ra.abs().max().item<double>() + 0.05) << "row " << i;
  }
}

TEST_F(Cuda, EngineGreedyOnStories260KEqualsCpu) {
  const std::string dir = test::shared_data() + "/models/stories260K";
  CausalLM cpu = load_model(dir + "/hf-qwen2", torch::kFloat32, torch::kCPU);
  CausalLM cuda = load_model(dir + "/hf-qwen2", torch::kFloat32, gpu);
  cpu->eval();
  cuda->eval();
  Engine ec(cpu), eg(cuda);
  GenerateRequest req;
  req.prompts = {{1, 403, 407, 261, 378}, {1, 403}, {1, 261, 376, 298, 315, 421, 395}};
  req.shared_prefix = {};
  req.max_new_tokens = 30;
  req.sampling.temperature = 0;
  auto a = ec.generate(req), b = eg.generate(req);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].ids, b[i].ids) << "prompt " << i;
    for (size_t t = 0; t < std::min(a[i].logprobs.size(), b[i].logprobs.size()); ++t)
      EXPECT_NEAR(a[i].logprobs[t], b[i].logprobs[t], 1e-4) << "prompt " << i << " token " << t;
  }
  auto ref = read_json_file(dir + "/reference_greedy.json");
  req.prompts = {ref["prompt_ids"].get<std::vector<int64_t>>()};
  req.max_new_tokens = 60;
  EXPECT_EQ(eg.generate(req)[0].ids, ref["greedy_ids"].get<std::vector<int64_t>>());
}

TEST_F(Cuda, SharedPrefixGreedyAndSeededSamplingEqualCpu) {
  CausalLM cpu = tiny_model(2);
  CausalLM cuda = copy_to(cpu, gpu);
  Engine ec(cpu), eg(cuda);
  GenerateRequest req;
  req.shared_prefix = {3, 4, 5, 6};
  req.prompts = {{1, 2}, {6, 7, 8, 9, 10}, {11}};
  req.n = 3;
  req.max_new_tokens = 16;
  req.seed = 5;
  for (double temperature : {0.0, 1.0}) {
    req.sampling.temperature = temperature;
    req.sampling.top_k = temperature > 0 ? 40 : 0;
    auto a = ec.generate(req), b = eg.generate(req);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].ids, b[i].ids) << "completion " << i << " temperature " << temperature;
      for (size_t t = 0; t < std::min(a[i].logprobs.size(), b[i].logprobs.size()); ++t)
        EXPECT_NEAR(a[i].logprobs[t], b[i].logprobs[t], 1e-4) << "completion " << i << " token " << t;
    }
  }
}

TEST_F(Cuda, LoraInitAndBackwardMatchCpu) {
  LoraConfig lc;
  lc.r = 4;
  lc.alpha = 8;
  lc.target_modules = {"q_proj", "v_proj", "o_proj", "up_proj", "down_proj"};
  CausalLM cpu = tiny_model(8);
  CausalLM cuda = copy_to(cpu, gpu);
  cpu->add_lora(lc, 21);
  cuda->add_lora(lc, 21);  // on the GPU already: the adapter must still be the CPU-seeded one
  auto sa = cpu->adapter_state(), sb = cuda->adapter_state();
  ASSERT_EQ(sa.size(), sb.size());
  {
    torch::NoGradGuard ng;
    for (size_t i = 0; i < sa.size(); ++i) {
      ASSERT_TRUE(sb[i].second.is_cuda()) << sb[i].first;
      EXPECT_TRUE(sa[i].second.equal(sb[i].second.cpu())) << sb[i].first;
      if (sa[i].first.find("lora_B") != std::string::npos) {  // non-zero B: A gets gradients too
        auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(i));
        sa[i].second.copy_(torch::randn(sa[i].second.sizes(), gen) * 0.2);
        sb[i].second.copy_(sa[i].second);
      }
    }
  }
  auto grads = [&](CausalLM& m, const torch::Device& dev, bool ckpt) {
    m->train();
    m->set_gradient_checkpointing(ckpt);
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    auto [ids, pos] = ragged(kSeqs);
    auto hidden = m->forward_hidden(ids.to(dev), pos.to(dev));
    auto targets = torch::remainder(ids * 7 + 3, 97).to(dev);
    auto mask = (pos >= 0).to(torch::kFloat32).to(dev);
    auto lp = token_logprobs(hidden, m->lm_head_weight(), targets, 5);
    (-(lp * mask).sum() / mask.sum()).backward();
    std::vector<torch::Tensor> g;
    for (auto& [n, t] : m->adapter_state()) g.push_back(t.grad().cpu().clone());
    return g;
  };
  for (bool ckpt : {false, true}) {
    auto ga = grads(cpu, torch::kCPU, ckpt), gb = grads(cuda, gpu, ckpt);
    ASSERT_EQ(ga.size(), gb.size());
    for (size_t i = 0; i < ga.size(); ++i) {
      const double scale = ga[i].abs().max().item<double>();
      EXPECT_GT(scale, 0) << sa[i].first;
      EXPECT_LT(max_diff(ga[i], gb[i]), 1e-4 * scale + 1e-7) << sa[i].first << " ckpt " << ckpt;
    }
  }
}

TEST_F(Cuda, GradientCheckpointingReplaysGpuDropout) {
  // As Model.GradientCheckpointingGivesTheSameGradients, on the GPU: LoRA dropout masks come from
  // the CUDA generator there, and the recompute in backward must draw the same ones.
  CausalLM base = tiny_model(13);
  CausalLM m = copy_to(base, gpu, torch::kFloat64);
  LoraConfig lc;
  lc.r = 2;
  lc.dropout = 0.3;
  m->add_lora(lc, 3);
  m->to(torch::kFloat64);
  {
    torch::NoGradGuard ng;
    auto gen = at::detail::createCPUGenerator(4);
    for (auto& [n, t] : m->adapter_state()) t.copy_(torch::randn(t.sizes(), gen, torch::kFloat64) * 0.2);
  }
  m->train();
  auto ids = torch::tensor(std::vector<int64_t>{4, 9, 2, 7, 7, 1}).unsqueeze(0).to(gpu);
  auto pos = torch::arange(6).unsqueeze(0).to(gpu);
  auto grads = [&](bool ckpt, uint64_t seed) {
    m->set_gradient_checkpointing(ckpt);
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    torch::manual_seed(seed);
    m->forward(ids, pos).pow(2).mean().backward();
    std::vector<torch::Tensor> g;
    for (auto& [n, t] : m->adapter_state()) g.push_back(t.grad().cpu().clone());
    return g;
  };
  auto plain = grads(false, 77), ckpt = grads(true, 77), other = grads(false, 78);
  ASSERT_EQ(plain.size(), ckpt.size());
  double seed_effect = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_LT(max_diff(plain[i], ckpt[i]), 1e-10) << i;
    seed_effect = std::max(seed_effect, max_diff(plain[i], other[i]));
  }
  EXPECT_GT(seed_effect, 1e-6) << "dropout had no effect: the test would prove nothing";
}

// QLoRA on a GPU: the codes move with the model, the tensor-op dequantization equals the CPU
// reference bitwise, the 4-bit forward matches the CPU one, and adapters train.
TEST_F(Cuda, FourBitModelMatchesCpuAndTrains) {
  CausalLM cpu = tiny_model(7);
  Quant4bitOptions o;
  o.enabled = true;
  cpu->quantize_4bit(o);
  CausalLM onto = tiny_model(7);
  onto->quantize_4bit(o);
  onto->to(gpu);
  const auto qc = cpu->quantized_weights(), qg = onto->quantized_weights();
  ASSERT_EQ(qc.size(), qg.size());
  for (size_t i = 0; i < qc.size(); ++i) {
    ASSERT_TRUE(qg[i].second->packed.device().is_cuda()) << qg[i].first;
    for (auto dtype : {torch::kFloat32, torch::kBFloat16})
      EXPECT_TRUE(torch::equal(dequantize_weight(*qg[i].second, dtype).cpu(),
                               dequantize_weight_reference(*qc[i].second, dtype)))
          << qg[i].first;
  }
  auto [ids, pos] = ragged(kSeqs);
  {
    torch::NoGradGuard ng;
    EXPECT_LT(max_diff(cpu->forward(ids, pos), onto->forward(ids.to(gpu), pos.to(gpu))), 1e-4);
  }
  LoraConfig lc;
  lc.r = 4;
  onto->add_lora(lc, 1);
  onto->to(gpu);
  onto->forward(ids.to(gpu), pos.to(gpu)).logsumexp(-1).mean().backward();
  for (auto& [name, t] : onto->trainable_parameters()) EXPECT_TRUE(t.grad().defined()) << name;
}
