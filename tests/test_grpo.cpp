// GRPO math: advantages and loss against hand-worked numbers, finite-difference gradient checks
// in double, and the chunked log-prob path against the naive (N, T, V) log_softmax gather.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "rlvr/core/error.h"
#include "rlvr/rl/grpo.h"
#include "rlvr/rl/logprobs.h"
#include "rlvr/train/completion_batch.h"
#include "tiny_qwen2.h"

using namespace rlvr;

namespace {

torch::Tensor vec(std::vector<double> v) { return torch::tensor(v, torch::kDouble); }

torch::Tensor mat(std::vector<std::vector<double>> rows) {
  std::vector<torch::Tensor> ts;
  for (auto& r : rows) ts.push_back(vec(r));
  return torch::stack(ts);
}

void expect_near_vec(const torch::Tensor& got, std::vector<double> want, double tol) {
  auto g = got.to(torch::kDouble).contiguous().reshape({-1});
  ASSERT_EQ(g.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(g[i].item<double>(), want[i], tol) << "index " << i;
}

// Rewards of two groups of G = 4: group 1 = {0, 0.5, 1.5, 1.5}, group 2 all equal.
torch::Tensor two_groups() { return vec({0, 0.5, 1.5, 1.5, 1, 1, 1, 1}); }

GrpoLossOptions opts(LossType t, double beta = 0, double eps = 0.2, double eps_high = 0.28,
                     int64_t max_len = 3) {
  GrpoLossOptions o;
  o.loss_type = t;
  o.beta = beta;
  o.epsilon = eps;
  o.epsilon_high = eps_high;
  o.max_completion_length = max_len;
  return o;
}

}  // namespace

// ---------------------------------------------------------------- advantages

TEST(Advantages, GroupScaleUsesBesselStd) {
  // group 1: mean = 3.5/4 = 0.875; deviations -0.875 -0.375 0.625 0.625;
  // squares 0.765625 + 0.140625 + 0.390625 + 0.390625 = 1.6875; / (4-1) = 0.5625; std = 0.75.
  // A = dev / (0.75 + 1e-4): -0.875/0.7501 = -1.16651113, -0.375/0.7501 = -0.49993334, 0.625/0.7501
  // = 0.83322224. group 2: all rewards 1 -> deviations 0 -> advantage 0 (std 0 + 1e-4 keeps it
  // finite).
  torch::Tensor a = compute_advantages(two_groups(), 4, ScaleRewards::kGroup);
  expect_near_vec(a, {-1.16651113, -0.49993334, 0.83322224, 0.83322224, 0, 0, 0, 0}, 1e-7);
}

TEST(Advantages, TwoCompletionsPerGroup) {
  // {1.5, 0.5}: mean 1, deviations +-0.5, std = sqrt(0.5/1) = 0.70710678; 0.5 / 0.70720678 =
  // 0.70700680.
  torch::Tensor a = compute_advantages(vec({1.5, 0.5}), 2, ScaleRewards::kGroup);
  expect_near_vec(a, {0.70700680, -0.70700680}, 1e-7);
}

TEST(Advantages, BatchScaleUsesWholeBatchStd) {
  // same group means; batch of 8: mean 7.5/8 = 0.9375; squares 0.87890625 0.19140625 0.31640625
  // 0.31640625
  // + 4 * 0.00390625 = 1.71875; / 7 = 0.24553571; std = 0.49551560.
  // A = group deviation / 0.49561560: -1.76548114, -0.75663477, 1.26105795, 1.26105795, 0 x4.
  torch::Tensor a = compute_advantages(two_groups(), 4, ScaleRewards::kBatch);
  expect_near_vec(a, {-1.76548114, -0.75663477, 1.26105795, 1.26105795, 0, 0, 0, 0}, 1e-7);
}

TEST(Advantages, NoneIsMeanCentredOnly) {
  torch::Tensor a = compute_advantages(two_groups(), 4, ScaleRewards::kNone);
  expect_near_vec(a, {-0.875, -0.375, 0.625, 0.625, 0, 0, 0, 0}, 1e-12);
}

TEST(Advantages, IntegerAndFloatRewardsKeepShapeAndDtype) {
  torch::Tensor a = compute_advantages(torch::tensor({1.f, 0.f, 0.f, 0.f}), 2, ScaleRewards::kNone);
  EXPECT_EQ(a.scalar_type(), torch::kFloat);
  expect_near_vec(a, {0.5, -0.5, 0, 0}, 1e-7);
  torch::Tensor b = compute_advantages(torch::tensor({2, 0}, torch::kLong), 2, ScaleRewards::kNone);
  EXPECT_EQ(b.scalar_type(), torch::kFloat);
  expect_near_vec(b, {1, -1}, 1e-7);
}

TEST(Advantages, BadInputIsAnError) {
  EXPECT_THROW(compute_advantages(vec({1, 2, 3}), 2, ScaleRewards::kGroup),
               Error);  // 3 not a multiple of 2
  EXPECT_THROW(compute_advantages(vec({1, 2}), 1, ScaleRewards::kGroup),
               Error);  // G = 1: no group std
  EXPECT_THROW(compute_advantages(vec({1, NAN}), 2, ScaleRewards::kGroup), Error);  // NaN reward
  EXPECT_THROW(compute_advantages(torch::zeros({2, 2}), 2, ScaleRewards::kGroup), Error);
}

TEST(RewardStats, MatchesTrlMetrics) {
  // reward = 7.5/8 = 0.9375; group stds 0.75 and 0 -> reward_std 0.375; 1 of 2 groups has zero std.
  RewardStats s = reward_stats(two_groups(), 4, ScaleRewards::kGroup);
  EXPECT_NEAR(s.reward, 0.9375, 1e-12);
  EXPECT_NEAR(s.reward_std, 0.375, 1e-12);
  EXPECT_NEAR(s.frac_reward_zero_std, 0.5, 1e-12);
  RewardStats b = reward_stats(two_groups(), 4, ScaleRewards::kBatch);
  EXPECT_NEAR(b.reward_std, 0.49551560, 1e-7);
}

// ---------------------------------------------------------------- loss, rho = 1, no KL

// A = {1, -0.5}; rho = 1 everywhere so l_t = -A; mask [[1,1,0],[1,1,1]].
struct OnPolicy : ::testing::Test {
  torch::Tensor logp = mat({{-1, -2, -3}, {-0.5, -1.5, -2.5}}).requires_grad_(true);
  torch::Tensor adv = vec({1, -0.5});
  torch::Tensor mask = mat({{1, 1, 0}, {1, 1, 1}});
  GrpoLossResult run(LossType t, double items = 10, int64_t max_len = 4) {
    return grpo_loss(logp, logp.detach(), torch::Tensor(), adv, mask,
                     opts(t, 0, 0.2, 0.28, max_len), items);
  }
};

TEST_F(OnPolicy, Grpo) {
  // seq 1: (-1 - 1) / 2 = -1; seq 2: (0.5 * 3) / 3 = 0.5; mean over sequences = -0.25.
  auto r = run(LossType::kGrpo);
  EXPECT_NEAR(r.loss.item<double>(), -0.25, 1e-12);
  r.loss.backward();
  // d loss / d logp = -A * rho / (len * N): seq 1 -1/(2*2) = -0.25; seq 2 0.5/(3*2) = 0.0833333;
  // masked 0.
  expect_near_vec(logp.grad(), {-0.25, -0.25, 0, 0.5 / 6, 0.5 / 6, 0.5 / 6}, 1e-12);
}

TEST_F(OnPolicy, Bnpo) {
  // sum = -1 - 1 + 0.5 * 3 = -0.5 over 5 tokens = -0.1.
  auto r = run(LossType::kBnpo);
  EXPECT_NEAR(r.loss.item<double>(), -0.1, 1e-12);
  EXPECT_NEAR(r.num_tokens, 5, 0);
  r.loss.backward();
  expect_near_vec(logp.grad(), {-0.2, -0.2, 0, 0.1, 0.1, 0.1}, 1e-12);
}

TEST_F(OnPolicy, DrGrpo) {
  // -0.5 / (N * max_completion_length) = -0.5 / (2 * 4) = -0.0625.
  EXPECT_NEAR(run(LossType::kDrGrpo).loss.item<double>(), -0.0625, 1e-12);
}

TEST_F(OnPolicy, Dapo) {
  // -0.5 / num_items_in_batch = -0.5 / 10 = -0.05 (the whole generation batch has 10 tokens).
  auto r = run(LossType::kDapo, 10);
  EXPECT_NEAR(r.loss.item<double>(), -0.05, 1e-12);
  EXPECT_EQ(r.clip_region_mean, 0);
  EXPECT_EQ(r.kl_mean, 0);
}

// ---------------------------------------------------------------- loss with clipping

// eps = 0.2, eps_high = 0.28: clip range [0.8, 1.28]. A = {1, -0.5}.
// seq 1 (A = 1):    rho 1.5 -> min(1.5, 1.28) = 1.28, l = -1.28 (high-clipped, no grad)
//                   rho 0.5 -> min(0.5, 0.8)  = 0.5,  l = -0.5  (unclipped: A > 0 keeps the low
//                   side) rho 1.1 -> l = -1.1
// seq 2 (A = -0.5): rho 1.5 -> min(-0.75, -0.64) = -0.75, l = 0.75 (unclipped)
//                   rho 0.5 -> min(-0.25, -0.4)  = -0.4,  l = 0.4  (low-clipped, no grad)
//                   rho 0.9 -> l = 0.45, but masked out.
// mask [[1,1,1],[1,1,0]]: seq sums -2.88 and 1.15; 5 tokens.
struct Clipped : ::testing::Test {
  torch::Tensor old = mat({{-1, -2, -3}, {-1, -2, -3}});
  torch::Tensor logp = (old + mat({{std::log(1.5), std::log(0.5), std::log(1.1)},
                                   {std::log(1.5), std::log(0.5), std::log(0.9)}}))
                           .detach()
                           .requires_grad_(true);
  torch::Tensor adv = vec({1, -0.5});
  torch::Tensor mask = mat({{1, 1, 1}, {1, 1, 0}});
  GrpoLossResult run(LossType t) {
    return grpo_loss(logp, old, torch::Tensor(), adv, mask, opts(t, 0, 0.2, 0.28, 3), 20);
  }
};

TEST_F(Clipped, AllLossTypes) {
  EXPECT_NEAR(run(LossType::kGrpo).loss.item<double>(), (-2.88 / 3 + 1.15 / 2) / 2,
              1e-12);                                                                  // -0.1925
  EXPECT_NEAR(run(LossType::kBnpo).loss.item<double>(), (-2.88 + 1.15) / 5, 1e-12);    // -0.346
  EXPECT_NEAR(run(LossType::kDrGrpo).loss.item<double>(), (-2.88 + 1.15) / 6, 1e-12);  // / (2 * 3)
  EXPECT_NEAR(run(LossType::kDapo).loss.item<double>(), (-2.88 + 1.15) / 20, 1e-12);   // -0.0865
}

TEST_F(Clipped, ClipMetricsCountMaskedTokens) {
  // low: seq 2 token 2 (rho 0.5 < 0.8, A < 0); high: seq 1 token 1 (rho 1.5 > 1.28, A > 0). 5
  // tokens.
  auto r = run(LossType::kBnpo);
  EXPECT_NEAR(r.clip_low_mean, 0.2, 1e-12);
  EXPECT_NEAR(r.clip_high_mean, 0.2, 1e-12);
  EXPECT_NEAR(r.clip_region_mean, 0.4, 1e-12);
}

TEST_F(Clipped, GradientIsZeroOnClippedTokens) {
  // bnpo: d l / d logp = -A * rho / 5 where unclipped: -0.5/5 = -0.1, -1.1/5 = -0.22, 0.75/5 =
  // 0.15.
  run(LossType::kBnpo).loss.backward();
  expect_near_vec(logp.grad(), {0, -0.1, -0.22, 0.15, 0, 0}, 1e-12);
}

TEST_F(Clipped, SymmetricEpsilonClipsHighEarlier) {
  // eps_high = 0.2: seq 1 token 3 (rho 1.1) still inside; token 1 now 1.2 -> l = -1.2.
  auto r = grpo_loss(logp, old, torch::Tensor(), adv, mask, opts(LossType::kBnpo, 0, 0.2, 0.2), 1);
  EXPECT_NEAR(r.loss.item<double>(), (-1.2 - 0.5 - 1.1 + 0.75 + 0.4) / 5, 1e-12);
}

// ---------------------------------------------------------------- loss with KL

TEST(GrpoLossKl, K3EstimatorAddsBetaKl) {
  // rho = 1, A = {1, -0.5}, beta = 0.1, d = ref - logp: seq 1 {0, ln2, -ln2}, seq 2 {0, 0, ln2}.
  // k3 = e^d - d - 1: d = 0 -> 0; ln2 -> 2 - 0.69314718 - 1 = 0.30685282; -ln2 -> 0.5 + 0.69314718
  // - 1 = 0.19314718. bnpo: (-3 + 1.5 + 0.1 * (2 * 0.30685282 + 0.19314718)) / 6 = -0.23655245;
  // kl_mean = 0.80685282 / 6 = 0.13447547.
  torch::Tensor logp = mat({{-1, -2, -3}, {-1, -1, -1}}).requires_grad_(true);
  torch::Tensor d = mat({{0, std::log(2.0), -std::log(2.0)}, {0, 0, std::log(2.0)}});
  torch::Tensor ref = logp.detach() + d;
  auto r = grpo_loss(logp, logp.detach(), ref, vec({1, -0.5}), torch::ones({2, 3}, torch::kDouble),
                     opts(LossType::kBnpo, 0.1), 1);
  EXPECT_NEAR(r.loss.item<double>(), -0.23655245, 1e-8);
  EXPECT_NEAR(r.kl_mean, 0.13447547, 1e-8);
  r.loss.backward();
  // d k3 / d logp = 1 - e^d: seq 1 token 2: (-1 + 0.1 * (1 - 2)) / 6 = -0.18333333; token 3: (-1 +
  // 0.05) / 6.
  expect_near_vec(logp.grad(), {-1.0 / 6, -1.1 / 6, -0.95 / 6, 0.5 / 6, 0.5 / 6, 0.4 / 6}, 1e-12);
}

TEST(GrpoLossKl, MissingReferenceIsAnError) {
  torch::Tensor lp = torch::zeros({2, 3}, torch::kDouble);
  EXPECT_THROW(grpo_loss(lp, lp, torch::Tensor(), vec({1, -1}), torch::ones({2, 3}),
                         opts(LossType::kGrpo, 0.04), 1),
               Error);
  EXPECT_THROW(grpo_loss(lp, torch::zeros({2, 4}), torch::Tensor(), vec({1, -1}),
                         torch::ones({2, 3}), opts(LossType::kGrpo), 1),
               Error);
  EXPECT_THROW(grpo_loss(lp, lp, torch::Tensor(), vec({1, -1, 0}), torch::ones({2, 3}),
                         opts(LossType::kGrpo), 1),
               Error);
}

// ---------------------------------------------------------------- finite-difference gradient check
// of the loss

TEST(GrpoLossGradcheck, AllLossTypesMatchFiniteDifferences) {
  torch::manual_seed(7);
  const int64_t N = 4, T = 6;
  torch::Tensor base = -torch::rand({N, T}, torch::kDouble) * 3;
  // Ratios spread over [0.5, 1.7] so every clip branch occurs; keep them away from the kinks.
  torch::Tensor rho = 0.5 + torch::rand({N, T}, torch::kDouble) * 1.2;
  for (double kink : {0.8, 1.28}) rho = torch::where((rho - kink).abs() < 1e-3, rho + 5e-3, rho);
  torch::Tensor old = base - rho.log();
  torch::Tensor ref = base + 0.3 * torch::randn({N, T}, torch::kDouble);
  torch::Tensor adv = torch::randn({N}, torch::kDouble);
  torch::Tensor mask = (torch::rand({N, T}) > 0.3).to(torch::kDouble);
  mask.select(1, 0).fill_(1);
  for (LossType t : {LossType::kGrpo, LossType::kBnpo, LossType::kDrGrpo, LossType::kDapo}) {
    auto o = opts(t, 0.05, 0.2, 0.28, T);
    torch::Tensor lp = base.clone().requires_grad_(true);
    grpo_loss(lp, old, ref, adv, mask, o, 17).loss.backward();
    torch::Tensor numeric = torch::zeros({N, T}, torch::kDouble);
    const double h = 1e-6;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < T; ++j) {
        torch::Tensor p = base.clone(), m = base.clone();
        p[i][j] += h;
        m[i][j] -= h;
        double fp = grpo_loss(p, old, ref, adv, mask, o, 17).loss.item<double>();
        double fm = grpo_loss(m, old, ref, adv, mask, o, 17).loss.item<double>();
        numeric[i][j] = (fp - fm) / (2 * h);
      }
    EXPECT_TRUE(torch::allclose(lp.grad(), numeric, 1e-6, 1e-8)) << loss_type_name(t) << "\n"
                                                                 << lp.grad() << "\n"
                                                                 << numeric;
    EXPECT_GT(lp.grad().abs().sum().item<double>(), 0) << loss_type_name(t);
  }
}

// ---------------------------------------------------------------- chunked log-probs

namespace {
struct LogprobCase {
  torch::Tensor hidden, weight, targets, gout;
};
LogprobCase make_case(torch::ScalarType dt, int64_t N = 3, int64_t T = 5, int64_t C = 4,
                      int64_t V = 7) {
  torch::manual_seed(11);
  LogprobCase c;
  c.hidden = torch::randn({N, T, C}, torch::dtype(dt));
  c.weight = torch::randn({V, C}, torch::dtype(dt));
  c.targets = torch::randint(0, V, {N, T}, torch::kLong);
  c.gout =
      torch::randn({N, T}, torch::dtype(dt));  // upstream gradient, so every row's grad differs
  return c;
}
}  // namespace

TEST(TokenLogprobs, ChunkedEqualsNaiveValuesAndGradients) {
  for (int64_t chunk : {1, 4, 7, 15, 100}) {  // N*T = 15: 4 and 7 leave a ragged last chunk
    for (double temp : {1.0, 0.7}) {
      auto c = make_case(torch::kFloat);
      torch::Tensor h1 = c.hidden.clone().requires_grad_(true),
                    w1 = c.weight.clone().requires_grad_(true);
      torch::Tensor h2 = c.hidden.clone().requires_grad_(true),
                    w2 = c.weight.clone().requires_grad_(true);
      torch::Tensor ent1, ent2;
      torch::Tensor got = token_logprobs(h1, w1, c.targets, chunk, &ent1, temp);
      torch::Tensor want = token_logprobs_reference(h2, w2, c.targets, &ent2, temp);
      ASSERT_EQ(got.sizes(), want.sizes());
      EXPECT_EQ(got.scalar_type(), torch::kFloat);
      EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-5)) << "chunk " << chunk;
      EXPECT_TRUE(torch::allclose(ent1, ent2, 1e-5, 1e-5)) << "chunk " << chunk;
      EXPECT_FALSE(ent1.requires_grad());
      (got * c.gout).sum().backward();
      (want * c.gout).sum().backward();
      EXPECT_TRUE(torch::allclose(h1.grad(), h2.grad(), 1e-4, 1e-5))
          << "chunk " << chunk << " temp " << temp;
      EXPECT_TRUE(torch::allclose(w1.grad(), w2.grad(), 1e-4, 1e-5))
          << "chunk " << chunk << " temp " << temp;
    }
  }
}

TEST(TokenLogprobs, FiniteDifferenceGradcheckInDouble) {
  auto c = make_case(torch::kDouble, 2, 3, 3, 5);
  const double temp = 0.8, h = 1e-6;
  torch::Tensor hid = c.hidden.clone().requires_grad_(true),
                w = c.weight.clone().requires_grad_(true);
  (token_logprobs(hid, w, c.targets, 4, nullptr, temp) * c.gout).sum().backward();
  auto f = [&](const torch::Tensor& hh, const torch::Tensor& ww) {
    return (token_logprobs(hh, ww, c.targets, 4, nullptr, temp) * c.gout).sum().item<double>();
  };
  for (int64_t i = 0; i < c.hidden.numel(); ++i) {
    torch::Tensor p = c.hidden.clone(), m = c.hidden.clone();
    p.view({-1})[i] += h;
    m.view({-1})[i] -= h;
    EXPECT_NEAR(hid.grad().view({-1})[i].item<double>(),
                (f(p, c.weight) - f(m, c.weight)) / (2 * h), 1e-7);
  }
  for (int64_t i = 0; i < c.weight.numel(); ++i) {
    torch::Tensor p = c.weight.clone(), m = c.weight.clone();
    p.view({-1})[i] += h;
    m.view({-1})[i] -= h;
    EXPECT_NEAR(w.grad().view({-1})[i].item<double>(), (f(c.hidden, p) - f(c.hidden, m)) / (2 * h),
                1e-7);
  }
}

TEST(TokenLogprobs, FrozenWeightGetsNoGradient) {
  auto c = make_case(torch::kFloat);
  torch::Tensor h1 = c.hidden.clone().requires_grad_(true),
                h2 = c.hidden.clone().requires_grad_(true);
  (token_logprobs(h1, c.weight, c.targets, 4) * c.gout).sum().backward();
  (token_logprobs_reference(h2, c.weight, c.targets) * c.gout).sum().backward();
  EXPECT_FALSE(c.weight.grad().defined());
  EXPECT_TRUE(torch::allclose(h1.grad(), h2.grad(), 1e-4, 1e-5));
}

TEST(TokenLogprobs, Bf16InputsComputeInFloat32) {
  auto c = make_case(torch::kFloat, 2, 9, 16, 50);
  torch::Tensor hb = c.hidden.to(torch::kBFloat16).requires_grad_(true);
  torch::Tensor wb = c.weight.to(torch::kBFloat16).requires_grad_(true);
  torch::Tensor got = token_logprobs(hb, wb, c.targets, 5);
  EXPECT_EQ(got.scalar_type(), torch::kFloat);
  // Same bf16 values upcast first: agreement to float32 rounding shows no bf16 arithmetic inside.
  torch::Tensor want = token_logprobs_reference(hb.detach().to(torch::kFloat),
                                                wb.detach().to(torch::kFloat), c.targets);
  EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-5)) << (got - want).abs().max();
  got.sum().backward();
  EXPECT_EQ(hb.grad().scalar_type(), torch::kBFloat16);
  EXPECT_EQ(wb.grad().scalar_type(), torch::kBFloat16);
}

TEST(TokenLogprobs, NoGradModeAndBadTargets) {
  auto c = make_case(torch::kFloat);
  torch::Tensor hid = c.hidden.clone().requires_grad_(true);
  {
    torch::NoGradGuard ng;
    torch::Tensor lp = token_logprobs(hid, c.weight, c.targets, 6);
    EXPECT_FALSE(lp.requires_grad());
    EXPECT_TRUE(
        torch::allclose(lp, token_logprobs_reference(c.hidden, c.weight, c.targets), 1e-5, 1e-5));
  }
  torch::Tensor bad = c.targets.clone();
  bad[0][0] = 7;  // V = 7
  EXPECT_THROW(token_logprobs(c.hidden, c.weight, bad, 4), Error);
  bad[0][0] = -100;
  EXPECT_THROW(token_logprobs(c.hidden, c.weight, bad, 4), Error);
  EXPECT_THROW(token_logprobs(c.hidden, c.weight, c.targets, 0), Error);
}

// ---------------------------------------------------------------- shared-prefix training batch

namespace {
// float64 tiny Qwen2: biases, GQA (4 query / 2 KV heads), untied lm_head, LoRA r 2 on all seven
// projections with non-zero B.
CausalLM lora_model_f64(uint64_t seed) {
  CausalLM m = make_random_model(test::tiny_qwen2_config(61), seed);
  LoraConfig lc;
  lc.r = 2;
  lc.alpha = 4;
  m->add_lora(lc, seed);
  m->to(torch::kFloat64);
  torch::NoGradGuard ng;
  torch::manual_seed(seed);
  for (auto& [n, t] : m->base_state())
    if (n.find("bias") != std::string::npos) t.normal_(0, 0.1);
  for (auto& [n, t] : m->adapter_state()) t.normal_(0, 0.2);
  return m;
}
}  // namespace

TEST(SharedPrefixBatch, LogprobsAndLoraGradientsEqualFullSequences) {
  CausalLM m = lora_model_f64(41);
  m->train();
  // Two problems x two completions: a 9-token few-shot block, then each problem's own tokens.
  const std::vector<int64_t> shots = {3, 14, 15, 9, 26, 5, 35, 8, 9};
  std::vector<std::vector<int64_t>> prompts(4, shots), comps = {{1, 2, 3}, {4, 5, 6, 7, 8}, {9}, {10, 11}};
  for (int i = 0; i < 2; ++i) prompts[i].insert(prompts[i].end(), {20, 21, 22});
  for (int i = 2; i < 4; ++i) prompts[i].insert(prompts[i].end(), {30, 31});
  std::vector<const std::vector<int64_t>*> ps, cs;
  for (int i = 0; i < 4; ++i) ps.push_back(&prompts[i]), cs.push_back(&comps[i]);
  const std::vector<bool> keep = {true, true, false, true};
  const int64_t Tc = 6;
  auto plain = make_completion_batch(ps, cs, Tc, keep);
  auto shared = make_completion_batch(ps, cs, Tc, keep, 4);
  ASSERT_FALSE(plain.prefix_ids.defined());
  ASSERT_TRUE(shared.prefix_ids.defined());
  EXPECT_EQ(shared.prefix_ids.numel(), 8);  // common prefix of 9, less the token that predicts
  EXPECT_TRUE(shared.targets.equal(plain.targets));
  EXPECT_TRUE(shared.mask.equal(plain.mask));
  // Fallback: a prefix shorter than the threshold keeps the plain layout.
  EXPECT_FALSE(make_completion_batch(ps, cs, Tc, keep, 9).prefix_ids.defined());

  torch::manual_seed(3);
  auto gout = torch::randn({4, Tc}, torch::kFloat64);
  auto run = [&](const CompletionBatch& b, bool ckpt, torch::Tensor* lp) {
    m->set_gradient_checkpointing(ckpt);
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    auto out = completion_logprobs(m, b, torch::kCPU, 5, 0.9, nullptr);
    *lp = out.detach();
    (out * b.mask.to(torch::kFloat64) * gout).sum().backward();
    std::vector<torch::Tensor> g;
    for (auto& [n, t] : m->adapter_state()) g.push_back(t.grad().clone());
    return g;
  };
  torch::Tensor lp_plain, lp_shared, lp_ckpt;
  auto g_plain = run(plain, false, &lp_plain);
  auto g_shared = run(shared, false, &lp_shared);
  auto g_ckpt = run(shared, true, &lp_ckpt);
  EXPECT_EQ(lp_plain.scalar_type(), torch::kFloat64);
  auto on_tokens = (plain.targets > 0).to(torch::kFloat64);  // every completion token, masked or not
  EXPECT_LT((lp_shared - lp_plain).mul(on_tokens).abs().max().item<double>(), 1e-12);
  EXPECT_LT((lp_ckpt - lp_plain).mul(on_tokens).abs().max().item<double>(), 1e-12);
  ASSERT_EQ(g_plain.size(), 28u);
  for (size_t i = 0; i < g_plain.size(); ++i) {
    EXPECT_GT(g_plain[i].abs().max().item<double>(), 0) << i;
    EXPECT_LT((g_shared[i] - g_plain[i]).abs().max().item<double>(), 1e-10) << i;
    EXPECT_LT((g_ckpt[i] - g_plain[i]).abs().max().item<double>(), 1e-10) << i;
  }
  // Reference log-probs (adapters off, no grad) and old log-probs (adapters on, no grad).
  torch::NoGradGuard ng;
  for (bool adapters : {false, true}) {
    m->set_adapters_enabled(adapters);
    auto a = completion_logprobs(m, plain, torch::kCPU, 512, 1.0, nullptr);
    auto b = completion_logprobs(m, shared, torch::kCPU, 512, 1.0, nullptr);
    EXPECT_LT((a - b).mul(on_tokens).abs().max().item<double>(), 1e-12) << "adapters " << adapters;
  }
  m->set_adapters_enabled(true);
}
