// `rlvr bench generate`: prefill and decode throughput of the engine against the machine's GEMM
// peak measured in the same run, with and without prefix sharing. Preset gsm8k-8shot-0.5b is a
// random model of the published Qwen2.5-0.5B shape with an 8-shot-length shared prefix.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "rlvr/core/error.h"
#include "rlvr/engine/engine.h"

namespace rlvr::cli {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// GEMM GFLOP/s at a decode-like shape (M x K) @ (K x N), median of reps.
double gemm_gflops(torch::Dtype dtype, int64_t M, int64_t K, int64_t N, torch::Device dev) {
  auto a = torch::randn({M, K}).to(dev, dtype), b = torch::randn({K, N}).to(dev, dtype);
  torch::matmul(a, b);  // warm-up
  std::vector<double> t;
  for (int r = 0; r < 5; ++r) {
    auto t0 = Clock::now();
    for (int i = 0; i < 3; ++i) torch::matmul(a, b);
    if (dev.is_cuda()) torch::cuda::synchronize();
    t.push_back(since(t0) / 3);
  }
  return 2.0 * M * K * N / median(t) / 1e9;
}

ModelConfig qwen25_05b_shape() {
  ModelConfig c;
  c.hidden_size = 896;
  c.intermediate_size = 4864;
  c.num_hidden_layers = 24;
  c.num_attention_heads = 14;
  c.num_key_value_heads = 2;
  c.head_dim = 64;
  c.vocab_size = 151936;
  c.tie_word_embeddings = true;
  c.rope_theta = 1000000.0;
  c.max_position_embeddings = 32768;
  c.torch_dtype = "bfloat16";
  return c;
}

// FLOPs of the weight GEMMs for one token (attention scores excluded): 2 * matmul params.
double flops_per_token(const ModelConfig& c) {
  const double C = c.hidden_size, D = c.head_dim;
  double attn = C * c.num_attention_heads * D * 2 + C * c.num_key_value_heads * D * 2;
  double mlp = 3 * C * c.intermediate_size;
  return 2.0 * (c.num_hidden_layers * (attn + mlp) + c.vocab_size * C);
}

std::vector<int64_t> random_ids(int64_t n, int64_t vocab, uint64_t seed) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = static_cast<int64_t>(stream_uniform(seed, i, 0, 0) * (vocab - 1));
  return v;
}

struct Opts {
  std::string preset, model, dtype = "auto", device = "cpu";
  int64_t prompts = 16, n = 8, prefix_len = 700, question_len = 60, new_tokens = 200;
  int64_t naive_subset = 8, sweep_steps = 12;
};

void run(const Opts& o) {
  RLVR_CHECK(o.preset.empty() != o.model.empty(), "bench generate: give --model DIR or --preset NAME");
  RLVR_CHECK(o.preset.empty() || o.preset == "gsm8k-8shot-0.5b", "bench generate: unknown preset '",
             o.preset, "' (known: gsm8k-8shot-0.5b)");
  torch::Device dev(o.device);
  CausalLM m{nullptr};
  torch::Dtype dtype;
  auto t0 = Clock::now();
  if (!o.preset.empty()) {
    ModelConfig cfg = qwen25_05b_shape();
    dtype = o.dtype == "auto" ? (dev.is_cpu() ? torch::kBFloat16 : torch::kBFloat16) : parse_dtype(o.dtype);
    m = make_random_model(cfg, 0);
    m->to(dev, dtype);
  } else {
    ModelConfig cfg = ModelConfig::load(o.model);
    dtype = resolve_dtype(o.dtype, cfg, dev);
    m = load_model(o.model, dtype, dev);
  }
  m->eval();
  const ModelConfig& cfg = m->config();
  std::fprintf(stderr, "model ready in %.1f s (%s, %s)\n", since(t0), dtype_name(dtype).c_str(),
               o.device.c_str());
  const double fp32_peak = gemm_gflops(torch::kFloat32, 64, cfg.hidden_size, cfg.intermediate_size, dev);
  const double bf16_peak = gemm_gflops(torch::kBFloat16, 64, cfg.hidden_size, cfg.intermediate_size, dev);
  const double peak = dtype == torch::kBFloat16 ? bf16_peak : fp32_peak;
  const double fpt = flops_per_token(cfg);

  GenerateRequest req;
  req.shared_prefix = random_ids(o.prefix_len, cfg.vocab_size, 1);
  for (int64_t p = 0; p < o.prompts; ++p) req.prompts.push_back(random_ids(o.question_len, cfg.vocab_size, 100 + p));
  req.n = o.n;
  req.max_new_tokens = o.new_tokens;
  req.seed = 1;
  Engine engine(m);

  // 1. The preset workload with prefix sharing.
  std::fprintf(stderr, "shared-prefix run: %lld prompts x %lld, prefix %lld + question %lld, %lld new tokens\n",
               (long long)o.prompts, (long long)o.n, (long long)o.prefix_len, (long long)o.question_len,
               (long long)o.new_tokens);
  auto t1 = Clock::now();
  auto comps = engine.generate(req);
  const double total_s = since(t1);
  const auto st = engine.stats();
  int64_t gen_tokens = 0;
  for (const auto& c : comps) gen_tokens += static_cast<int64_t>(c.ids.size());
  const double shared_prefill_s = st.prefill_s;

  // 2. Naive baseline: every sequence prefills prefix + question itself; measured on a subset.
  std::fprintf(stderr, "naive prefill on %lld sequences\n", (long long)o.naive_subset);
  GenerateRequest naive = req;
  naive.share_prefix = false;
  naive.n = 1;
  naive.max_new_tokens = 1;
  naive.prompts.clear();
  for (int64_t i = 0; i < o.naive_subset; ++i) naive.prompts.push_back(req.prompts[i % o.prompts]);
  engine.reset_stats();
  engine.generate(naive);
  const double naive_prefill_per_seq = engine.stats().prefill_s / static_cast<double>(o.naive_subset);
  const double naive_prefill_s = naive_prefill_per_seq * o.prompts * o.n;
  const double naive_total_s = naive_prefill_s + st.decode_s;

  // 3. Decode throughput by batch size (prefix cached, short runs).
  std::vector<int64_t> batches = {1, 16, 64, 128};
  std::vector<double> decode_tps(batches.size()), prefill_tps(batches.size());
  for (size_t i = 0; i < batches.size(); ++i) {
    GenerateRequest b = req;
    b.prompts.clear();
    for (int64_t p = 0; p < batches[i]; ++p) b.prompts.push_back(req.prompts[p % o.prompts]);
    b.n = 1;
    b.max_new_tokens = o.sweep_steps;
    engine.reset_stats();
    engine.generate(b);
    const auto& s = engine.stats();
    decode_tps[i] = s.decode_tokens / std::max(s.decode_s, 1e-9);
    prefill_tps[i] = s.prefill_tokens / std::max(s.prefill_s, 1e-9);
  }

  std::printf("rlvr bench generate: %s, %s on %s (%lld params)\n",
              o.preset.empty() ? o.model.c_str() : o.preset.c_str(), dtype_name(dtype).c_str(),
              o.device.c_str(), (long long)cfg.num_parameters());
  std::printf("GEMM peak (64 x %lld x %lld): fp32 %.0f GFLOP/s, bf16 %.0f GFLOP/s\n",
              (long long)cfg.hidden_size, (long long)cfg.intermediate_size, fp32_peak, bf16_peak);
  std::printf("%-8s %14s %14s %12s\n", "batch", "prefill tok/s", "decode tok/s", "decode/peak");
  for (size_t i = 0; i < batches.size(); ++i)
    std::printf("%-8lld %14.0f %14.1f %11.1f%%\n", (long long)batches[i], prefill_tps[i], decode_tps[i],
                100.0 * decode_tps[i] * fpt / 1e9 / peak);
  std::printf("workload: %lld completions, %lld tokens in %.1f s (prefill %.1f s, decode %.1f s)\n",
              (long long)comps.size(), (long long)gen_tokens, total_s, shared_prefill_s, st.decode_s);
  std::printf("naive per-sequence prefill: %.2f s/sequence measured on %lld sequences -> %.1f s for %lld "
              "(extrapolated)\n",
              naive_prefill_per_seq, (long long)o.naive_subset, naive_prefill_s, (long long)(o.prompts * o.n));
  const double speedup = naive_prefill_s / std::max(shared_prefill_s, 1e-9);
  std::printf("prefix sharing: prefill %.1fx faster, end to end %.2fx\n", speedup,
              naive_total_s / std::max(total_s, 1e-9));
  const size_t i64 = 2;
  nlohmann::json j = {{"tokens_per_s", gen_tokens / total_s},
                      {"naive_tokens_per_s", gen_tokens / naive_total_s},
                      {"speedup_prefix_sharing", speedup},
                      {"speedup_end_to_end", naive_total_s / total_s},
                      {"decode_peak_fraction", decode_tps[i64] * fpt / 1e9 / peak},
                      {"decode_tokens_per_s_by_batch",
                       {{"1", decode_tps[0]}, {"16", decode_tps[1]}, {"64", decode_tps[2]}, {"128", decode_tps[3]}}},
                      {"gemm_gflops_fp32", fp32_peak},
                      {"gemm_gflops_bf16", bf16_peak},
                      {"dtype", dtype_name(dtype)},
                      {"naive_measured_sequences", o.naive_subset}};
  std::printf("%s\n", j.dump().c_str());
}

}  // namespace

void add_bench_generate(CLI::App& bench) {
  auto o = std::make_shared<Opts>();
  auto* cmd = bench.add_subcommand("generate", "Engine throughput: prefill/decode tokens/s by batch size, "
                                                "prefix sharing vs per-sequence prefill, fraction of GEMM peak");
  cmd->add_option("--model", o->model, "HF model directory");
  cmd->add_option("--preset", o->preset, "gsm8k-8shot-0.5b: random Qwen2.5-0.5B-shaped model, 16x8, "
                                         "700-token prefix, 60-token questions, 200 new tokens");
  cmd->add_option("--dtype", o->dtype, "auto | float32 | bfloat16 (preset auto: bfloat16)");
  cmd->add_option("--device", o->device, "cpu | cuda");
  cmd->add_option("--prompts", o->prompts, "prompts");
  cmd->add_option("--n", o->n, "completions per prompt");
  cmd->add_option("--prefix-len", o->prefix_len, "shared prefix tokens");
  cmd->add_option("--question-len", o->question_len, "tokens per prompt after the prefix");
  cmd->add_option("--new-tokens", o->new_tokens, "tokens to generate per completion");
  cmd->add_option("--naive-subset", o->naive_subset, "sequences on which the naive prefill is timed");
  cmd->add_option("--sweep-steps", o->sweep_steps, "decode steps per batch-size measurement");
  cmd->callback([o] { run(*o); });
}

}  // namespace rlvr::cli
