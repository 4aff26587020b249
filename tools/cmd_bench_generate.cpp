// `rlvr bench generate`: prefill and decode throughput of the engine against the machine's GEMM
// peak measured in the same run, with and without prefix sharing. Preset gsm8k-8shot-0.5b is a
// random model of the published Qwen2.5-0.5B shape with a shared prefix as long as the real
// 8-shot GSM8K block (~1,490 Qwen tokens). The workload (16 prompts x 8 completions x 200 tokens)
// runs in full; the batch sweep decodes a few steps per batch size, and the per-sequence
// (no sharing) prefill is timed on a small subset and extrapolated.
#include <algorithm>
#include <ctime>
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/engine/engine.h"

namespace rlvr::cli {

namespace {

// Process CPU time (all threads): with the wall time it shows how much of the machine the run had.
double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}
// One progress line on stderr per phase: wall and CPU seconds.
struct Phase {
  const char* name;
  Stopwatch wall;
  double c0 = cpu_seconds();
  explicit Phase(const char* n) : name(n) {}
  void done() const { std::fprintf(stderr, "  %s: %.1f s wall, %.1f s cpu\n", name, wall.seconds(), cpu_seconds() - c0); }
};

// GEMM peak: the best GFLOP/s of (M x K) @ (K x N) over a few M (decode-like to prefill-like),
// best of reps (a peak, so load from elsewhere on the machine can only lower it).
struct Peak {
  double gflops = 0;
  int64_t m = 0;
};
Peak gemm_peak(torch::Dtype dtype, int64_t K, int64_t N, torch::Device dev) {
  Peak best;
  for (int64_t M : {64, 128, 512}) {
    auto a = torch::randn({M, K}).to(dev, dtype), b = torch::randn({K, N}).to(dev, dtype);
    torch::matmul(a, b);  // warm-up
    for (int r = 0; r < 5; ++r) {
      const Stopwatch clock;
      for (int i = 0; i < 3; ++i) torch::matmul(a, b);
      if (dev.is_cuda()) torch::cuda::synchronize();
      const double g = 2.0 * M * K * N / (clock.seconds() / 3) / 1e9;
      if (g > best.gflops) best = {g, M};
    }
  }
  return best;
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
  int64_t prompts = 16, n = 8, prefix_len = 1490, question_len = 60, new_tokens = 200;
  int64_t naive_subset = 1, sweep_steps = 5, sweep_prefill_tokens = 512, threads = 0;
  QuantFlags quant;
};

void run(const Opts& o) {
  RLVR_CHECK(o.preset.empty() != o.model.empty(), "bench generate: give --model DIR or --preset NAME");
  RLVR_CHECK(o.preset.empty() || o.preset == "gsm8k-8shot-0.5b", "bench generate: unknown preset '",
             o.preset, "' (known: gsm8k-8shot-0.5b)");
  RLVR_CHECK(o.prompts >= 1 && o.n >= 1 && o.new_tokens >= 1 && o.question_len >= 1,
             "bench generate: --prompts, --n, --new-tokens and --question-len must be >= 1");
  RLVR_CHECK(o.naive_subset >= 1 && o.sweep_steps >= 2 && o.sweep_prefill_tokens >= 1,
             "bench generate: --naive-subset and --sweep-prefill-tokens must be >= 1, --sweep-steps >= 2");
  const Stopwatch bench_clock;
  const double cpu_start = cpu_seconds();
  if (o.threads > 0) torch::set_num_threads(static_cast<int>(o.threads));
  torch::Device dev(o.device);
  const Quant4bitOptions q4 = o.quant.options();
  CausalLM m{nullptr};
  torch::Dtype dtype;
  const Stopwatch load_clock;
  if (!o.preset.empty()) {
    ModelConfig cfg = qwen25_05b_shape();
    dtype = resolve_dtype(o.dtype, cfg, dev);  // auto: the preset's bfloat16
    m = make_random_model(cfg, 0);
    m->to(dev, dtype);
    if (q4.enabled) m->quantize_4bit(q4);
  } else {
    ModelConfig cfg = ModelConfig::load(o.model);
    dtype = resolve_dtype(o.dtype, cfg, dev);
    m = load_model(o.model, dtype, dev, q4);
  }
  m->eval();
  const ModelConfig& cfg = m->config();
  std::fprintf(stderr, "model ready in %.1f s (%s%s, %s, %d threads)\n", load_clock.seconds(),
               dtype_name(dtype).c_str(), m->is_4bit() ? " with 4-bit decoder weights" : "", o.device.c_str(),
               torch::get_num_threads());
  const Peak fp32_peak = gemm_peak(torch::kFloat32, cfg.hidden_size, cfg.intermediate_size, dev);
  const Peak bf16_peak = gemm_peak(torch::kBFloat16, cfg.hidden_size, cfg.intermediate_size, dev);
  const double peak = dtype == torch::kBFloat16 ? bf16_peak.gflops : fp32_peak.gflops;
  const double fpt = flops_per_token(cfg);

  GenerateRequest req;
  req.shared_prefix = random_ids(o.prefix_len, cfg.vocab_size, 1);
  for (int64_t p = 0; p < o.prompts; ++p) req.prompts.push_back(random_ids(o.question_len, cfg.vocab_size, 100 + p));
  req.n = o.n;
  req.max_new_tokens = o.new_tokens;
  req.seed = 1;
  Engine engine(m);

  // 1. The workload with prefix sharing, in full.
  std::fprintf(stderr, "shared-prefix run: %lld prompts x %lld, prefix %lld + question %lld, %lld new tokens\n",
               (long long)o.prompts, (long long)o.n, (long long)o.prefix_len, (long long)o.question_len,
               (long long)o.new_tokens);
  Phase work("workload");
  const Stopwatch gen_clock;
  auto comps = engine.generate(req);
  const double total_s = gen_clock.seconds();
  work.done();
  const auto st = engine.stats();
  int64_t gen_tokens = 0;
  for (const auto& c : comps) gen_tokens += static_cast<int64_t>(c.ids.size());
  const double shared_prefill_s = st.prefill_s;

  // 2. Naive baseline: every sequence prefills prefix + question itself. Timed on a subset of
  // sequences (one by default: they all have the same length), then scaled to all of them; its
  // decode is taken to cost what the shared run's did (the same tokens; without sharing each row
  // would also attend over its own copy of the prefix, so this favours the baseline).
  const int64_t naive_n = std::min(o.naive_subset, o.prompts * o.n);
  std::fprintf(stderr, "naive prefill on %lld sequences\n", (long long)naive_n);
  GenerateRequest naive = req;
  naive.share_prefix = false;
  naive.n = 1;
  naive.max_new_tokens = 1;
  naive.prompts.clear();
  for (int64_t i = 0; i < naive_n; ++i) naive.prompts.push_back(req.prompts[i % o.prompts]);
  engine.reset_stats();
  Phase naive_phase("naive prefill");
  engine.generate(naive);
  naive_phase.done();
  const double naive_prefill_per_seq = engine.stats().prefill_s / static_cast<double>(naive_n);
  const double naive_prefill_s = naive_prefill_per_seq * o.prompts * o.n;
  const double naive_total_s = naive_prefill_s + st.decode_s;

  // 3. By batch size (prefix cached): one prefill of B rows, then sweep_steps - 1 decode steps.
  // The prefill rows are the questions cut to at most sweep_prefill_tokens / B tokens, so every
  // measurement prefills at most 512 tokens by default: already a GEMM of 512 rows (a full-length
  // prefill of 128 questions would cost a minute and measure the same GEMMs).
  std::vector<int64_t> batches = {1, 16, 64, 128};
  std::vector<double> decode_tps(batches.size()), prefill_tps(batches.size());
  std::vector<int64_t> prefill_len(batches.size());
  Phase sweep("batch sweep");
  for (size_t i = 0; i < batches.size(); ++i) {
    GenerateRequest b = req;
    b.prompts.clear();
    prefill_len[i] = std::max<int64_t>(1, std::min(o.question_len, o.sweep_prefill_tokens / batches[i]));
    for (int64_t p = 0; p < batches[i]; ++p) {
      const auto& q = req.prompts[p % o.prompts];
      b.prompts.emplace_back(q.end() - prefill_len[i], q.end());
    }
    b.n = 1;
    b.max_new_tokens = o.sweep_steps;
    engine.reset_stats();
    engine.generate(b);
    const auto& s = engine.stats();
    decode_tps[i] = s.decode_step_rows / std::max(s.decode_s, 1e-9);
    prefill_tps[i] = s.prefill_tokens / std::max(s.prefill_s, 1e-9);
  }
  sweep.done();
  const double bench_s = bench_clock.seconds(), bench_cpu_s = cpu_seconds() - cpu_start;

  std::printf("rlvr bench generate: %s, %s on %s, %d threads (%lld params)\n",
              o.preset.empty() ? o.model.c_str() : o.preset.c_str(), dtype_name(dtype).c_str(),
              o.device.c_str(), torch::get_num_threads(), (long long)cfg.num_parameters());
  std::printf("GEMM peak (M x %lld x %lld, best M): fp32 %.0f GFLOP/s (M %lld), bf16 %.0f GFLOP/s (M %lld)\n",
              (long long)cfg.hidden_size, (long long)cfg.intermediate_size, fp32_peak.gflops,
              (long long)fp32_peak.m, bf16_peak.gflops, (long long)bf16_peak.m);
  std::printf("by batch B (cached %lld-token prefix): one prefill of B rows x L tokens, then %lld decode steps\n",
              (long long)o.prefix_len, (long long)(o.sweep_steps - 1));
  std::printf("%-6s %4s %14s %14s %12s\n", "B", "L", "prefill tok/s", "decode tok/s", "decode/peak");
  for (size_t i = 0; i < batches.size(); ++i)
    std::printf("%-6lld %4lld %14.0f %14.1f %11.1f%%\n", (long long)batches[i], (long long)prefill_len[i],
                prefill_tps[i], decode_tps[i], 100.0 * decode_tps[i] * fpt / 1e9 / peak);
  std::printf("workload: %lld completions, %lld tokens in %.1f s (prefill %.1f s, decode %.1f s, %.1f tok/s)\n",
              (long long)comps.size(), (long long)gen_tokens, total_s, shared_prefill_s, st.decode_s,
              gen_tokens / std::max(total_s, 1e-9));
  std::printf("naive per-sequence prefill: %.2f s/sequence measured on %lld sequences -> %.1f s for %lld "
              "(extrapolated; decode taken equal to the shared run's)\n",
              naive_prefill_per_seq, (long long)naive_n, naive_prefill_s, (long long)(o.prompts * o.n));
  const double speedup = naive_prefill_s / std::max(shared_prefill_s, 1e-9);
  std::printf("prefix sharing: prefill %.1fx faster, end to end %.2fx\n", speedup,
              naive_total_s / std::max(total_s, 1e-9));
  std::printf("bench: %.1f s wall, %.1f s cpu (%d threads)\n", bench_s, bench_cpu_s, torch::get_num_threads());
  auto at = [&](int64_t b) {
    return decode_tps[std::find(batches.begin(), batches.end(), b) - batches.begin()];
  };
  nlohmann::json by_batch, prefill_by_batch, prefill_rows_len;
  for (size_t i = 0; i < batches.size(); ++i) {
    by_batch[std::to_string(batches[i])] = decode_tps[i];
    prefill_by_batch[std::to_string(batches[i])] = prefill_tps[i];
    prefill_rows_len[std::to_string(batches[i])] = prefill_len[i];
  }
  nlohmann::json j = {{"tokens_per_s", gen_tokens / total_s},
                      {"naive_tokens_per_s", gen_tokens / naive_total_s},
                      {"speedup_prefix_sharing", speedup},
                      {"speedup_end_to_end", naive_total_s / total_s},
                      {"decode_peak_fraction", at(64) * fpt / 1e9 / peak},
                      {"decode_tokens_per_s_by_batch", by_batch},
                      {"prefill_tokens_per_s_by_batch", prefill_by_batch},
                      {"prefill_tokens_per_row_by_batch", prefill_rows_len},
                      {"gemm_gflops_fp32", fp32_peak.gflops},
                      {"gemm_gflops_bf16", bf16_peak.gflops},
                      {"dtype", dtype_name(dtype)},
                      {"prefix_len", o.prefix_len},
                      {"naive_measured_sequences", naive_n},
                      {"naive_extrapolated", naive_n < o.prompts * o.n},
                      {"threads", torch::get_num_threads()},
                      {"load_in_4bit", m->is_4bit()},
                      {"bench_s", bench_s},
                      {"bench_cpu_s", bench_cpu_s}};
  std::printf("%s\n", j.dump().c_str());
}

}  // namespace

void add_bench_generate(CLI::App& bench) {
  auto o = std::make_shared<Opts>();
  auto* cmd = bench.add_subcommand("generate", "Engine throughput: prefill/decode tokens/s by batch size, "
                                                "prefix sharing vs per-sequence prefill, fraction of GEMM peak");
  cmd->add_option("--model", o->model, "HF model directory");
  cmd->add_option("--preset", o->preset, "gsm8k-8shot-0.5b: random Qwen2.5-0.5B-shaped model, 16x8, "
                                         "1490-token prefix (the real 8-shot block), 60-token questions, "
                                         "200 new tokens");
  cmd->add_option("--dtype", o->dtype, "auto | float32 | bfloat16 (auto: the checkpoint's dtype; the preset's is bfloat16)");
  cmd->add_option("--device", o->device, "cpu | cuda");
  cmd->add_option("--prompts", o->prompts, "prompts");
  cmd->add_option("--n", o->n, "completions per prompt");
  cmd->add_option("--prefix-len", o->prefix_len, "shared prefix tokens");
  cmd->add_option("--question-len", o->question_len, "tokens per prompt after the prefix");
  cmd->add_option("--new-tokens", o->new_tokens, "tokens to generate per completion");
  cmd->add_option("--naive-subset", o->naive_subset, "sequences on which the naive prefill is timed");
  cmd->add_option("--sweep-prefill-tokens", o->sweep_prefill_tokens,
                  "tokens prefilled per batch-size measurement (questions cut to this / B)");
  cmd->add_option("--threads", o->threads, "intra-op threads (0: torch's default)");
  add_quant_flags(cmd, o->quant);
  cmd->add_option("--sweep-steps", o->sweep_steps, "tokens per batch-size measurement (the first comes "
                                                     "from the prefill; the rest time decode)");
  cmd->callback([o] { run(*o); });
}

}  // namespace rlvr::cli
