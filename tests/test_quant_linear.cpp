// 4-bit Linear compute (model/quant_linear): the fast CPU dequantization and the tensor-op path
// bitwise against the reference, quantize_weight's fields against rlvr/quant run directly,
// linear_4bit's forward and gradients (to the input, bias and LoRA, never the codes), and a
// quantized tiny model (close logits, trains, refuses merge and full fine-tuning).
#include <gtest/gtest.h>

#include "rlvr/core/error.h"
#include "rlvr/model/qwen2.h"
#include "tiny_qwen2.h"

using namespace rlvr;

namespace {

// A random (out, in) weight with an all-zero block at the start, an outlier row and, when the
// size allows, a partial last block.
torch::Tensor test_weight(int64_t out, int64_t in, uint64_t seed) {
  torch::manual_seed(seed);
  auto w = torch::randn({out, in});
  w.view({-1}).narrow(0, 0, std::min<int64_t>(64, out * in)).zero_();
  if (out > 2) w[out / 2] *= 40.0;
  return w;
}

bool bitwise_equal(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type()) return false;
  auto ac = a.contiguous(), bc = b.contiguous();
  return std::memcmp(ac.data_ptr(), bc.data_ptr(), ac.numel() * ac.element_size()) == 0;
}

Quant4bitOptions options(quant::QuantType type, bool nested) {
  Quant4bitOptions o;
  o.enabled = true;
  o.type = type;
  o.double_quant = nested;
  return o;
}

}  // namespace

TEST(QuantLinear, FastAndTensorOpDequantizationEqualTheReferenceBitwise) {
  // (out, in): odd sizes, n odd, a partial last block, rows that straddle blocks.
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{7, 33}, {5, 13}, {3, 64}, {11, 96}, {64, 130}, {1, 1}};
  for (auto type : {quant::QuantType::nf4, quant::QuantType::fp4})
    for (bool nested : {false, true})
      for (auto [out, in] : shapes)
        for (auto src : {torch::kFloat32, torch::kBFloat16}) {
          auto w = test_weight(out, in, out * 131 + in).to(src);
          const QuantizedWeight q = quantize_weight(w, options(type, nested));
          for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat64}) {
            const auto ref = dequantize_weight_reference(q, dtype);
            SCOPED_TRACE(::testing::Message() << quant::quant_type_name(type) << " nested " << nested << " "
                                              << out << "x" << in << " to " << dtype);
            for (int simd : {2, 1, 0}) {
              set_dequantize_simd(simd);
              EXPECT_TRUE(bitwise_equal(dequantize_weight(q, dtype), ref)) << "simd level " << simd;
            }
            set_dequantize_simd(2);
            EXPECT_TRUE(bitwise_equal(dequantize_weight_tensor_ops(q, dtype), ref));
          }
        }
}

TEST(QuantLinear, ReferenceIsTheQuantModulesDequantization) {
  auto w = test_weight(9, 70, 5);
  const QuantizedWeight q = quantize_weight(w, options(quant::QuantType::nf4, false));
  auto wf = w.contiguous();
  quant::Quant4bit q4 = quant::quantize_4bit(wf.data_ptr<float>(), wf.numel());
  std::vector<float> direct(q4.n);
  quant::dequantize_4bit(q4, direct.data());
  auto ref = dequantize_weight_reference(q, torch::kFloat32);
  EXPECT_EQ(std::memcmp(ref.data_ptr<float>(), direct.data(), direct.size() * sizeof(float)), 0);
  // The dequantized weight is close to the original: within half the widest NF4 gap per block.
  EXPECT_LT((ref - w).abs().max().item<double>(), 0.5 * 0.34 * w.abs().max().item<double>());
}

TEST(QuantLinear, QuantizeWeightFillsEveryFieldAsTheQuantModule) {
  auto w = test_weight(13, 77, 9).to(torch::kBFloat16);
  auto wf = w.to(torch::kFloat32).contiguous();
  for (auto type : {quant::QuantType::nf4, quant::QuantType::fp4}) {
    const quant::Quant4bit q4 = quant::quantize_4bit(wf.data_ptr<float>(), wf.numel(), type);
    const QuantizedWeight plain = quantize_weight(w, options(type, false));
    EXPECT_EQ(plain.type, type);
    EXPECT_EQ(plain.blocksize, 64);
    EXPECT_EQ(plain.out, 13);
    EXPECT_EQ(plain.in, 77);
    EXPECT_EQ(plain.dtype, torch::kBFloat16);
    EXPECT_FALSE(plain.nested);
    EXPECT_FALSE(plain.nested_codes.defined());
    EXPECT_EQ(std::vector<uint8_t>(plain.packed.data_ptr<uint8_t>(), plain.packed.data_ptr<uint8_t>() + plain.packed.numel()),
              q4.packed);
    EXPECT_EQ(std::vector<float>(plain.absmax.data_ptr<float>(), plain.absmax.data_ptr<float>() + plain.absmax.numel()),
              q4.absmax);
    const auto& table = quant::code_table(type);
    EXPECT_EQ(std::vector<float>(plain.quant_map.data_ptr<float>(), plain.quant_map.data_ptr<float>() + 16),
              std::vector<float>(table.begin(), table.end()));
    EXPECT_EQ(plain.code_bytes(), (13 * 77 + 1) / 2);
    EXPECT_EQ(plain.statistic_bytes(), 4 * (16 + 16));  // 16 blocks, 16 code values

    const QuantizedWeight nested = quantize_weight(w, options(type, true));
    const quant::NestedAbsmax na = quant::double_quantize(q4.absmax);
    const std::vector<float> absmax = quant::dequantize_nested(na);
    ASSERT_TRUE(nested.nested);
    EXPECT_TRUE(bitwise_equal(nested.packed, plain.packed));
    EXPECT_EQ(nested.offset, na.offset);
    EXPECT_EQ(nested.nested_blocksize, 256);
    EXPECT_EQ(std::vector<uint8_t>(nested.nested_codes.data_ptr<uint8_t>(),
                                   nested.nested_codes.data_ptr<uint8_t>() + nested.nested_codes.numel()),
              na.q.codes);
    EXPECT_EQ(std::vector<float>(nested.nested_absmax.data_ptr<float>(),
                                 nested.nested_absmax.data_ptr<float>() + nested.nested_absmax.numel()),
              na.q.absmax);
    EXPECT_FALSE(nested.absmax.defined()) << "memory holds only the nested codes";
    EXPECT_EQ(block_scales(nested), absmax);
    EXPECT_EQ(block_scales(plain), q4.absmax);
    EXPECT_EQ(nested.statistic_bytes(), 16 + 4 * (1 + 16 + 256));  // codes; nested absmax, code values, map
    const auto& map = quant::dynamic_map();
    EXPECT_EQ(std::vector<float>(nested.nested_map.data_ptr<float>(), nested.nested_map.data_ptr<float>() + 256),
              std::vector<float>(map.begin(), map.end()));
  }
}

TEST(QuantLinear, ForwardIsTheLinearOfTheDequantizedWeight) {
  auto w = test_weight(40, 70, 3);
  auto q = std::make_shared<const QuantizedWeight>(quantize_weight(w, options(quant::QuantType::nf4, true)));
  auto bias = torch::randn({40});
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (int64_t rows : {1, 3, 300}) {
      auto x = torch::randn({rows, 70}).to(dtype);
      auto expect = torch::nn::functional::linear(x, dequantize_weight_reference(*q, dtype), bias.to(dtype));
      EXPECT_TRUE(torch::equal(linear_4bit(x, q, bias.to(dtype)), expect)) << dtype << " rows " << rows;
    }
  }
  auto x3 = torch::randn({2, 5, 70});
  EXPECT_EQ(linear_4bit(x3, q, torch::Tensor()).sizes(), (std::vector<int64_t>{2, 5, 40}));
  EXPECT_THROW(linear_4bit(torch::randn({2, 69}), q, bias), Error);
}

// A LoRA on a 4-bit layer gets the gradients an unquantized layer holding the dequantized weight
// gets; the codes get none and are not parameters.
TEST(QuantLinear, GradientsReachInputBiasAndAdaptersNotTheCodes) {
  AdaptedLinear plain(70, 40, true), quant(70, 40, true);
  {
    torch::NoGradGuard ng;
    quant->weight.copy_(test_weight(40, 70, 4));
    quant->bias.copy_(torch::randn({40}));
  }
  quant->quantize(options(quant::QuantType::nf4, true));
  EXPECT_FALSE(quant->weight.defined());
  for (const auto& p : quant->named_parameters()) EXPECT_NE(p.key(), "weight");
  {
    torch::NoGradGuard ng;
    plain->weight.copy_(dequantize_weight_reference(*quant->qweight, torch::kFloat32));
    plain->bias.copy_(quant->bias);
  }
  plain->weight.set_requires_grad(false);
  for (AdaptedLinear* l : {&plain, &quant}) {
    torch::manual_seed(8);
    (*l)->add_lora(4, 8.0, 0.0, torch::kFloat32);
    torch::NoGradGuard ng;
    (*l)->lora_B.copy_(torch::randn({40, 4}));
  }
  auto x = torch::randn({6, 70});
  auto target = torch::randn({6, 40});
  std::vector<torch::Tensor> gx;
  for (AdaptedLinear* l : {&plain, &quant}) {
    auto xi = x.clone().requires_grad_(true);
    ((*l)->forward(xi) * target).sum().backward();
    gx.push_back(xi.grad());
  }
  EXPECT_TRUE(torch::allclose(gx[0], gx[1], 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(plain->lora_A.grad(), quant->lora_A.grad(), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(plain->lora_B.grad(), quant->lora_B.grad(), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(plain->bias.grad(), quant->bias.grad(), 1e-5, 1e-6));
  EXPECT_FALSE(quant->qweight->packed.requires_grad());
  EXPECT_FALSE(quant->qweight->packed.grad().defined());
  EXPECT_FALSE(quant->qweight->nested_absmax.grad().defined());
}

TEST(QuantLinear, QuantizedModelIsCloseTrainsAndRefusesMergeAndFullFinetune) {
  const ModelConfig cfg = test::tiny_qwen2_config();
  CausalLM base = make_random_model(cfg, 4), q4 = make_random_model(cfg, 4);
  q4->quantize_4bit(options(quant::QuantType::nf4, true));
  EXPECT_TRUE(q4->is_4bit());
  EXPECT_FALSE(base->is_4bit());
  const auto qw = q4->quantized_weights();
  ASSERT_EQ(qw.size(), 7u * cfg.num_hidden_layers);
  EXPECT_EQ(qw[0].first, "model.layers.0.self_attn.q_proj.weight");
  for (const auto& [name, p] : q4->base_state()) EXPECT_EQ(name.find("_proj.weight"), std::string::npos) << name;
  EXPECT_EQ(q4->base_state().size() + qw.size(), base->base_state().size());

  auto ids = torch::randint(0, cfg.vocab_size, {2, 9});
  auto pos = torch::arange(9).repeat({2, 1});
  {
    torch::NoGradGuard ng;
    auto a = base->forward(ids, pos), b = q4->forward(ids, pos);
    const double spread = a.std().item<double>();
    EXPECT_LT((a - b).abs().mean().item<double>(), 0.25 * spread);
    EXPECT_GT((a - b).abs().max().item<double>(), 0.0);
  }
  LoraConfig lc;
  lc.r = 4;
  q4->add_lora(lc, 1);
  for (auto& [name, t] : q4->trainable_parameters()) EXPECT_NE(name.find("lora_"), std::string::npos) << name;
  {
    torch::NoGradGuard ng;
    for (auto& [name, t] : q4->trainable_parameters())
      if (name.find("lora_B") != std::string::npos) t.normal_(0, 0.1);
  }
  auto loss = q4->forward(ids, pos).logsumexp(-1).mean();
  loss.backward();
  for (auto& [name, t] : q4->trainable_parameters()) {
    ASSERT_TRUE(t.grad().defined()) << name;
    EXPECT_GT(t.grad().abs().sum().item<double>(), 0.0) << name;
  }
  EXPECT_THROW(q4->merge_lora(), Error);
  EXPECT_THROW(q4->unmerge_lora(), Error);
  EXPECT_THROW(q4->set_full_finetune(true), Error);
}

TEST(QuantLinear, SetQuantizedChecksTheShape) {
  AdaptedLinear l(70, 40, false);
  auto q = std::make_shared<const QuantizedWeight>(quantize_weight(test_weight(40, 71, 1), options(quant::QuantType::nf4, false)));
  EXPECT_THROW(l->set_quantized(q), Error);
  EXPECT_TRUE(l->weight.defined());
}
