// Data parallelism in the trainers (src/rlvr/train/data_parallel.h) on 2 forked ranks of a real
// Gloo group: the bucketed gradient sum, and ZeRO-1 AdamW against torch's 1-rank AdamW fed the
// same summed gradients (updates, clipping by the global norm, skipped steps, the state it holds,
// checkpoints written with one world size and resumed with the other). Tiny models on CPU.
#include <gtest/gtest.h>

#include <c10/util/string_utils.h>

#include <cmath>
#include <fstream>

#include "dist_ranks.h"
#include "rlvr/core/files.h"
#include "rlvr/train/data_parallel.h"
#include "rlvr/train/policy.h"
#include "testlib.h"
#include "tiny_model.h"

namespace rlvr {
namespace {

using test::run_ranks;
using torch::optim::AdamW;
using torch::optim::AdamWParamState;

constexpr int kWorld = 2;
constexpr int64_t kSmallBucket = 4096;  // bytes: a tiny model's weights span many buckets

TrainRecipeBase toy_recipe(const std::string& model_dir, bool peft) {
  TrainRecipeBase r;
  r.model_name_or_path = model_dir;
  r.dtype = DType::kFloat32;
  r.device = DeviceKind::kCpu;
  r.gradient_checkpointing = false;
  r.use_peft = peft;
  r.lora_r = 2;
  r.lora_alpha = 4;
  r.lora_dropout = 0;
  r.learning_rate = 1e-2;
  r.weight_decay = 0.1;
  r.adam_epsilon = 1e-2;  // comparable to the clipped gradients: the update feels their scale
  return r;
}

// A tiny policy whose weights all train (full fine-tuning).
Policy toy_policy(const std::string& model_dir) { return load_policy(toy_recipe(model_dir, false)); }

torch::optim::AdamWOptions toy_options() {
  const TrainRecipeBase r = toy_recipe("", false);
  return torch::optim::AdamWOptions(r.learning_rate)
      .betas({r.adam_beta1, r.adam_beta2})
      .eps(r.adam_epsilon)
      .weight_decay(r.weight_decay);
}

std::vector<torch::Tensor> params_of(const Policy& p) {
  std::vector<torch::Tensor> out;
  for (auto& [name, t] : p.model->trainable_parameters()) out.push_back(t);
  return out;
}

// The scripted steps. Rank r's gradient of parameter i at step s (undefined: none): random, but
// param 0 has none on rank 1 at step 0, the last one none on any rank at step 1, and rank 1's
// gradient holds a NaN at step 3.
torch::Tensor rank_grad(const torch::Tensor& p, int64_t s, int r, size_t i, size_t n) {
  if ((s == 0 && r == 1 && i == 0) || (s == 1 && i + 1 == n)) return {};
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(1 + s * 7919 + r * 131 + static_cast<int64_t>(i)));
  auto g = torch::randn(p.sizes(), gen);
  if (s == 3 && r == 1 && i == 2) g.view(-1)[0] = NAN;
  return g;
}

// Sets rank r's gradients of step s, or with r = -1 every rank's summed (what one process gets).
void set_grads(const Policy& p, int64_t s, int rank) {
  auto ps = params_of(p);
  for (size_t i = 0; i < ps.size(); ++i) {
    torch::Tensor sum;
    for (int r = 0; r < kWorld; ++r) {
      if (rank >= 0 && r != rank) continue;
      auto g = rank_grad(ps[i], s, r, i, ps.size());
      if (g.defined()) sum = sum.defined() ? sum + g : g;
    }
    ps[i].mutable_grad() = sum;
  }
}

double step_loss(int64_t s, int rank) { return s == 4 && rank != 0 ? NAN : 1.0; }  // NaN on rank 1 only
double step_clip(int64_t s) { return s % 2 == 0 ? 1.0 : 0.0; }
double step_lr(int64_t s) { return 1e-2 / static_cast<double>(1 + s); }

// Steps [from, to) of the script on rank `rank` (-1: one process with the summed gradients).
// Returns the gradient norms.
std::vector<double> run_steps(const Policy& p, torch::optim::Optimizer& opt, int64_t from, int64_t to, int rank) {
  std::vector<double> norms;
  for (int64_t s = from; s < to; ++s) {
    set_learning_rate(opt, step_lr(s));
    set_grads(p, s, rank);
    double norm = 0;
    const bool applied = apply_update(p, opt, step_loss(s, rank), step_clip(s), &norm);
    if (applied != (s != 3 && s != 4)) fail("step ", s, ": applied is ", applied);
    norms.push_back(norm);
  }
  return norms;
}

double max_abs_diff(const Policy& a, const Policy& b) {
  const auto pa = params_of(a), pb = params_of(b);
  double d = 0;
  for (size_t i = 0; i < pa.size(); ++i) d = std::max(d, (pa[i] - pb[i]).abs().max().item<double>());
  return d;
}

// The largest difference between the AdamW states of two policies' parameters (their steps must
// match exactly).
double max_state_diff(const Policy& pa, AdamW& a, const Policy& pb, AdamW& b) {
  const auto ta = params_of(pa), tb = params_of(pb);
  double d = 0;
  for (size_t i = 0; i < ta.size(); ++i) {
    const std::string ka = c10::guts::to_string(ta[i].unsafeGetTensorImpl());
    const std::string kb = c10::guts::to_string(tb[i].unsafeGetTensorImpl());
    const bool in_a = a.state().count(ka) > 0, in_b = b.state().count(kb) > 0;
    RANK_CHECK(in_a == in_b);
    if (!in_a) continue;
    const auto& sa = static_cast<AdamWParamState&>(*a.state().at(ka));
    const auto& sb = static_cast<AdamWParamState&>(*b.state().at(kb));
    RANK_CHECK(sa.step() == sb.step());
    d = std::max(d, (sa.exp_avg() - sb.exp_avg()).abs().max().item<double>());
    d = std::max(d, (sa.exp_avg_sq() - sb.exp_avg_sq()).abs().max().item<double>());
  }
  return d;
}

int64_t adamw_state_bytes(AdamW& opt) {
  int64_t bytes = 0;
  for (const auto& [key, st] : opt.state()) {
    const auto& s = static_cast<AdamWParamState&>(*st);
    bytes += static_cast<int64_t>(s.exp_avg().nbytes() + s.exp_avg_sq().nbytes());
  }
  return bytes;
}

// Figures rank 0 reports to the test ("name value" lines in a file).
void report(const std::string& path, const std::string& name, double value) {
  std::ofstream(path, std::ios::app) << name << " " << value << "\n";
}

class DataParallel : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    dir_ = test::scratch_dir(std::string("data_parallel_") +
                             testing::UnitTest::GetInstance()->current_test_info()->name());
    model_ = test::tiny_model_dir(dir_ + "/model", 32, 1);
    figures_ = dir_ + "/figures.txt";
  }
  void TearDown() override {
    if (file_exists(figures_)) std::printf("%s", read_text_file(figures_).c_str());
  }
  std::string dir_, model_, figures_;
};

TEST_F(DataParallel, BucketedAllReduceIsTheSum) {
  const auto codes = run_ranks(kWorld, [&](dist::Comm& c) {
    Policy p = toy_policy(model_), expected = toy_policy(model_);
    for (int64_t s : {0, 1})
      for (int64_t bucket : {kSmallBucket, kBucketBytes}) {
        set_grads(p, s, c.rank());
        set_grads(expected, s, -1);
        all_reduce_gradients(p, c, bucket);
        const auto got = params_of(p), want = params_of(expected);
        for (size_t i = 0; i < got.size(); ++i) {
          RANK_CHECK(got[i].grad().defined() == want[i].grad().defined());
          if (want[i].grad().defined()) RANK_CHECK(torch::equal(got[i].grad(), want[i].grad()));
        }
      }
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0}));
}

// 2-rank ZeRO-1 against one process's AdamW on the summed gradients, step by step: clipping to the
// global norm, a gradient missing on one rank or on all, a NaN gradient on one rank, a NaN loss on
// one rank, a learning rate set each step. Also the state each rank holds.
TEST_F(DataParallel, ZeroOneEqualsOneRankAdamW) {
  const auto codes = run_ranks(kWorld, [&](dist::Comm& c) {
    Policy p = toy_policy(model_), ref = toy_policy(model_);
    ZeroAdamW zero(params_of(p), toy_options(), c, kSmallBucket);
    AdamW adamw(params_of(ref), toy_options());
    double worst = 0;
    for (int64_t s = 0; s < 6; ++s) {
      const double nz = run_steps(p, zero, s, s + 1, c.rank())[0];
      const double nr = run_steps(ref, adamw, s, s + 1, -1)[0];
      RANK_CHECK(std::isfinite(nz) == std::isfinite(nr));
      if (std::isfinite(nr)) RANK_CHECK(std::abs(nz - nr) <= 1e-5 * nr);
      worst = std::max(worst, max_abs_diff(p, ref));
    }
    RANK_CHECK(worst <= 1e-6);
    const int64_t numel = zero.unsharded_state_bytes() / 8;
    RANK_CHECK(zero.unsharded_state_bytes() == adamw_state_bytes(adamw));
    RANK_CHECK(zero.state_bytes() == 2 * 4 * ((numel + kWorld - 1) / kWorld));
    if (c.is_main()) {
      report(figures_, "zero1_vs_adamw_max_abs_diff", worst);
      report(figures_, "zero1_state_bytes_per_rank", static_cast<double>(zero.state_bytes()));
      report(figures_, "adamw_state_bytes", static_cast<double>(adamw_state_bytes(adamw)));
    }
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0}));
}

// make_optimizer on a group of 2 (dist::world()): ZeRO-1 for full fine-tuning, AdamW for LoRA,
// whose apply_update sums the gradients of the ranks.
TEST_F(DataParallel, MakeOptimizerShardsFullFineTuningOnly) {
  const int port = rlvr::free_tcp_port();
  const auto codes = run_ranks(kWorld, [&](dist::Comm& c) {
    Policy ref = load_policy(toy_recipe(model_, true));  // one process first (dist::world() is one rank)
    auto ref_opt = make_optimizer(ref, toy_recipe(model_, true));
    run_steps(ref, *ref_opt, 0, 3, -1);
    dist::DistEnv env;
    env.rank = env.local_rank = c.rank();
    env.world = env.local_world = kWorld;
    env.master_port = port;
    dist::ConnectOptions o;
    o.timeout = std::chrono::seconds(20);
    dist::set_world(dist::Comm::connect(env, o));
    Policy full = toy_policy(model_);
    RANK_CHECK(dynamic_cast<ZeroAdamW*>(make_optimizer(full, toy_recipe(model_, false)).get()) != nullptr);
    Policy lora = load_policy(toy_recipe(model_, true));
    auto opt = make_optimizer(lora, toy_recipe(model_, true));
    RANK_CHECK(dynamic_cast<AdamW*>(opt.get()) != nullptr);
    run_steps(lora, *opt, 0, 3, c.rank());
    RANK_CHECK(max_abs_diff(lora, ref) <= 1e-6);
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0}));
}

// A checkpoint that rank 0 refuses to write (a NaN weight) fails on every rank with its message.
TEST_F(DataParallel, ACheckpointRefusedOnRankZeroFailsEveryRank) {
  const auto codes = run_ranks(kWorld, [&](dist::Comm& c) {
    Policy p = toy_policy(model_);
    ZeroAdamW zero(params_of(p), toy_options(), c, kSmallBucket);
    {
      torch::NoGradGuard no_grad;
      params_of(p)[1].view(-1)[0] = NAN;
    }
    std::string msg;
    try {
      save_checkpoint(dir_ + "/ck", p, zero, {{"global_step", 1}});
    } catch (const Error& e) {
      msg = e.what();
    }
    RANK_CHECK(msg.find("holds NaN or inf") != std::string::npos);
    RANK_CHECK(c.is_main() || msg.find("rank 0: ") == 0);
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0}));
  EXPECT_FALSE(file_exists(dir_ + "/ck"));
}

// A checkpoint saved by 2 ZeRO-1 ranks holds the state of one process's AdamW and resumes in one
// process; one saved by one process resumes on 2 ZeRO-1 ranks; both end where the uninterrupted
// 1-rank run ends. Runs last: the test process itself uses torch after the ranks ended.
TEST_F(DataParallel, CheckpointsMoveBetweenWorldSizes) {
  const std::string from_one = dir_ + "/from-1-rank", from_two = dir_ + "/from-2-ranks";
  const auto codes = run_ranks(kWorld, [&](dist::Comm& c) {
    Policy ref = toy_policy(model_);
    AdamW adamw(params_of(ref), toy_options());
    run_steps(ref, adamw, 0, 3, -1);
    if (c.is_main()) save_checkpoint(from_one, ref, adamw, {{"global_step", 3}});
    c.barrier();
    Policy p = toy_policy(model_);
    ZeroAdamW zero(params_of(p), toy_options(), c, kSmallBucket);
    run_steps(p, zero, 0, 3, c.rank());
    // Rank 1 names another folder: only rank 0 writes, so nothing may appear there.
    save_checkpoint(c.is_main() ? from_two : dir_ + "/rank-1", p, zero, {{"global_step", 3}});
    AdamW saved(params_of(p));
    torch::load(saved, from_two + "/optimizer.pt");
    const double state_diff = max_state_diff(p, saved, ref, adamw);
    RANK_CHECK(state_diff <= 1e-6);
    run_steps(ref, adamw, 3, 6, -1);
    run_steps(p, zero, 3, 6, c.rank());
    Policy q = toy_policy(model_);
    ZeroAdamW resumed(params_of(q), toy_options(), c, kSmallBucket);
    load_checkpoint(from_one, q, resumed);
    run_steps(q, resumed, 3, 6, c.rank());
    RANK_CHECK(max_abs_diff(p, ref) <= 1e-6 && max_abs_diff(q, ref) <= 1e-6);
    if (c.is_main()) {
      report(figures_, "checkpoint_state_max_abs_diff", state_diff);
      report(figures_, "resumed_2_ranks_from_1_rank_max_abs_diff", max_abs_diff(q, ref));
    }
  });
  ASSERT_EQ(codes, (std::vector<int>{0, 0}));
  EXPECT_FALSE(file_exists(dir_ + "/rank-1"));
  Policy ref = toy_policy(model_), q = toy_policy(model_);
  AdamW adamw(params_of(ref), toy_options());
  auto resumed = make_optimizer(q, toy_recipe(model_, false));
  run_steps(ref, adamw, 0, 6, -1);
  EXPECT_EQ(load_checkpoint(from_two, q, *resumed).at("global_step"), 3);
  run_steps(q, *resumed, 3, 6, -1);
  EXPECT_LE(max_abs_diff(q, ref), 1e-6);
  std::printf("resumed_1_rank_from_2_ranks_max_abs_diff %g\n", max_abs_diff(q, ref));
}

}  // namespace
}  // namespace rlvr
