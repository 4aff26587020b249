// Qwen2 / Llama decoder forward (HF modeling_qwen2 semantics), GQA attention over a KV cache
// with a shared prefix, LoRA wiring, random init, and HF / PEFT checkpoint load and save.
#include "rlvr/model/qwen2.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <charconv>
#include <cmath>
#include <mutex>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/io/safetensors.h"
#include "rlvr/model/cpu_allocator.h"
#include "rlvr/model/quant_checkpoint.h"
#include "rlvr/model/row_kernels.h"

namespace rlvr {

namespace F = torch::nn::functional;

namespace {
constexpr double kMasked = -1e30;  // additive mask; a fully masked row becomes uniform, not NaN
// Half-precision tensors go to float32 for norms and softmax (as HF does); float32 and float64
// stay as they are, so a float64 model is float64 throughout (gradient checks).
torch::Tensor upcast(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat64 ? x : x.to(torch::kFloat32);
}
}  // namespace

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto h = upcast(x);
  h = h * torch::rsqrt(h.pow(2).mean(-1, true) + eps_);
  return weight * h.to(x.scalar_type());
}

EmbeddingImpl::EmbeddingImpl(int64_t vocab, int64_t dim) {
  weight = register_parameter("weight", torch::empty({vocab, dim}));
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) {
  return torch::embedding(weight, ids);
}

AttentionImpl::AttentionImpl(const ModelConfig& c)
    : H_(c.num_attention_heads), Hkv_(c.num_key_value_heads), D_(c.head_dim) {
  const int64_t C = c.hidden_size;
  q_proj = register_module("q_proj", AdaptedLinear(C, H_ * D_, c.attention_bias));
  k_proj = register_module("k_proj", AdaptedLinear(C, Hkv_ * D_, c.attention_bias));
  v_proj = register_module("v_proj", AdaptedLinear(C, Hkv_ * D_, c.attention_bias));
  o_proj = register_module("o_proj", AdaptedLinear(H_ * D_, C, false));
}

namespace {
// HF rotate_half: (x1, x2) -> (-x2, x1) over the two halves of the head dimension.
torch::Tensor rotate_half(const torch::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return torch::cat({-halves[1], halves[0]}, -1);
}

// In place: each attention row (prefix part sp[j, n*G + i, :], slot part ss[n, j, i, :]) becomes
// softmax(scale * scores) over both parts, slots hidden unless 0 <= kpos[n, s] <= qpos[n, i % T].
// The fused CPU kernel for float32 / bfloat16: no concatenation, no float32 copies of the scores.
void softmax_rows_cpu(torch::Tensor& ss, torch::Tensor& sp, const torch::Tensor& kpos,
                      const torch::Tensor& qpos, double scale) {
  RECORD_FUNCTION("rlvr::attention_softmax", std::vector<c10::IValue>());  // named in profiles
  const int64_t N = ss.size(0), Hkv = ss.size(1), G = ss.size(2), S = ss.size(3);
  const int64_t P = sp.defined() ? sp.size(2) : 0, T = qpos.size(1);
  const bool bf16 = ss.scalar_type() == torch::kBFloat16;
  const size_t elem = ss.element_size();
  auto* ssp = static_cast<char*>(ss.data_ptr());
  auto* spp = P > 0 ? static_cast<char*>(sp.data_ptr()) : nullptr;
  const int64_t* kp = kpos.data_ptr<int64_t>();
  const int64_t kstride = kpos.stride(0);
  const int64_t* qp = qpos.data_ptr<int64_t>();
  const auto sc = static_cast<float>(scale);
  at::parallel_for(0, N * Hkv * G, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(kernels::scratch_floats(P + S));
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / (Hkv * G), j = (r / G) % Hkv, i = r % G;
      char* b = ssp + r * S * elem;
      char* a = P > 0 ? spp + ((j * N + n) * G + i) * P * elem : nullptr;
      const int64_t* krow = kp + n * kstride;
      const int64_t q = qp[n * T + i % T];
      if (bf16)
        kernels::softmax_two_part(reinterpret_cast<uint16_t*>(a), P, reinterpret_cast<uint16_t*>(b), S,
                                  krow, q, sc, scratch.data());
      else
        kernels::softmax_two_part(reinterpret_cast<float*>(a), P, reinterpret_cast<float*>(b), S, krow,
                                  q, sc, scratch.data());
    }
  });
}

// Attention of q (N, H, T, D) over a KV cache whose slots [used, used + T) already hold this
// step's keys and values: the shared prefix (one GEMM per KV head over all rows, so the prefix is
// read once per step) and each row's slots are the two parts of one softmax. Returns (N, Hkv, gT, D).
torch::Tensor attend_cached(const torch::Tensor& q, const KVCache& cache, int64_t layer,
                            const torch::Tensor& positions, int64_t Hkv) {
  const int64_t N = q.size(0), T = q.size(2), D = q.size(3), G = q.size(1) / Hkv * T;
  const int64_t P = cache.prefix_len, cap = cache.capacity();
  // Slots [0, used + T) hold keys. A narrowed slice of the cache is not dense per (row, head), and
  // the bf16 batched GEMM would copy it whole; past half full, attending over every slot (empty
  // ones have position -1, so they get weight 0) costs less than that copy.
  const int64_t S = 2 * (cache.used + T) >= cap ? cap : cache.used + T;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  auto keys = cache.k[layer].narrow(2, 0, S), vals = cache.v[layer].narrow(2, 0, S);
  auto kpos = cache.slot_pos.narrow(1, 0, S);
  // Query heads j*g..j*g+g-1 share KV head j (HF repeat_kv): group them as (N, Hkv, g*T, D).
  auto qg = q.reshape({N, Hkv, G, D});
  auto ss = torch::matmul(qg, keys.transpose(2, 3)).contiguous();  // (N, Hkv, G, S)
  torch::Tensor sp;                                                // (Hkv, N*G, P)
  if (P > 0)
    sp = torch::matmul(qg.permute({1, 0, 2, 3}).reshape({Hkv, N * G, D}),
                       cache.prefix_k[layer].transpose(1, 2)).contiguous();
  const auto dtype = q.scalar_type();
  // The fused kernel writes the probabilities over the scores in place, behind autograd's back:
  // only when no gradient flows (generation; the grouped training forward takes the tensor ops).
  if (q.device().is_cpu() && (dtype == torch::kFloat32 || dtype == torch::kBFloat16) &&
      !(torch::GradMode::is_enabled() && (ss.requires_grad() || (sp.defined() && sp.requires_grad())))) {
    softmax_rows_cpu(ss, sp, kpos, positions.contiguous(), scale);
  } else {  // the same softmax from tensor ops: float32 scores of both parts, concatenated
    auto qpos = positions.view({N, 1, 1, T}).expand({N, 1, G / T, T}).reshape({N, 1, G, 1});
    auto kp = kpos.view({N, 1, 1, S});
    auto hidden = (kp < 0).logical_or(kp > qpos);  // (N, 1, G, S)
    auto scores = (upcast(ss) * scale).masked_fill(hidden, kMasked);
    if (P > 0) {
      auto pre = (upcast(sp) * scale).view({Hkv, N, G, P}).permute({1, 0, 2, 3});
      auto probs = torch::softmax(torch::cat({pre, scores}, -1), -1).to(dtype);
      ss = probs.narrow(-1, P, S);
      sp = probs.narrow(-1, 0, P).permute({1, 0, 2, 3}).reshape({Hkv, N * G, P});
    } else {
      ss = torch::softmax(scores, -1).to(dtype);
    }
  }
  auto out = torch::matmul(ss, vals);
  if (P > 0)
    out = out + torch::matmul(sp, cache.prefix_v[layer]).view({Hkv, N, G, D}).permute({1, 0, 2, 3});
  return out;
}

// silu(g) * u. Without autograd, on CPU in float32 / bf16: one fused pass (bf16 silu and the bf16
// product are two slow passes with a conversion per element); the result is the same rounding.
torch::Tensor silu_mul(const torch::Tensor& g, const torch::Tensor& u) {
  const auto dtype = g.scalar_type();
  if (torch::GradMode::is_enabled() || !g.device().is_cpu() || u.scalar_type() != dtype ||
      g.sizes() != u.sizes() || (dtype != torch::kFloat32 && dtype != torch::kBFloat16))
    return F::silu(g) * u;
  RECORD_FUNCTION("rlvr::silu_mul", std::vector<c10::IValue>());
  auto gc = g.contiguous(), uc = u.contiguous();
  auto out = torch::empty_like(gc);
  const bool bf16 = dtype == torch::kBFloat16;
  const size_t elem = gc.element_size();
  const auto* gp = static_cast<const char*>(gc.data_ptr());
  const auto* up = static_cast<const char*>(uc.data_ptr());
  auto* op = static_cast<char*>(out.data_ptr());
  at::parallel_for(0, gc.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
    const size_t at = begin * elem;
    if (bf16)
      kernels::silu_mul(reinterpret_cast<const uint16_t*>(gp + at), reinterpret_cast<const uint16_t*>(up + at),
                        reinterpret_cast<uint16_t*>(op + at), end - begin);
    else
      kernels::silu_mul(reinterpret_cast<const float*>(gp + at), reinterpret_cast<const float*>(up + at),
                        reinterpret_cast<float*>(op + at), end - begin);
  });
  return out;
}
}  // namespace

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                     const torch::Tensor& sin, const torch::Tensor& positions,
                                     KVCache* cache, int64_t layer, bool on) {
  const int64_t N = x.size(0), T = x.size(1), g = H_ / Hkv_;
  auto q = q_proj->forward(x, on).view({N, T, H_, D_}).transpose(1, 2);    // (N, H, T, D)
  auto k = k_proj->forward(x, on).view({N, T, Hkv_, D_}).transpose(1, 2);  // (N, Hkv, T, D)
  auto v = v_proj->forward(x, on).view({N, T, Hkv_, D_}).transpose(1, 2);  // (N, Hkv, T, D)
  q = q * cos + rotate_half(q) * sin;
  k = k * cos + rotate_half(k) * sin;

  if (cache) {
    cache->k[layer].narrow(2, cache->used, T).copy_(k);
    cache->v[layer].narrow(2, cache->used, T).copy_(v);
    auto out = attend_cached(q, *cache, layer, positions, Hkv_);  // (N, Hkv, gT, D)
    return o_proj->forward(out.view({N, H_, T, D_}).transpose(1, 2).reshape({N, T, H_ * D_}), on);
  }
  torch::Tensor keys = k, vals = v, kpos = positions;  // (N, Hkv, S, D) x2, (N, S)
  const int64_t S = keys.size(2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(D_));
  // Query heads j*g..j*g+g-1 share KV head j (HF repeat_kv): group them as (N, Hkv, g*T, D).
  auto qg = q.reshape({N, Hkv_, g * T, D_});
  auto qpos = positions.view({N, 1, 1, T}).expand({N, 1, g, T}).reshape({N, 1, g * T, 1});
  auto kp = kpos.view({N, 1, 1, S});
  auto allowed = (kp >= 0).logical_and(kp <= qpos);  // (N, 1, gT, S)
  auto scores = upcast(torch::matmul(qg, keys.transpose(2, 3))) * scale;
  scores = scores.masked_fill(allowed.logical_not(), kMasked);  // (N, Hkv, gT, S)
  auto out = torch::matmul(torch::softmax(scores, -1).to(x.scalar_type()), vals);  // (N, Hkv, gT, D)
  out = out.view({N, H_, T, D_}).transpose(1, 2).reshape({N, T, H_ * D_});
  return o_proj->forward(out, on);
}

torch::Tensor AttentionImpl::forward_shared_prefix(const torch::Tensor& x, const torch::Tensor& cos,
                                                   const torch::Tensor& sin, const SharedPrefixLayout& L,
                                                   bool on) {
  const int64_t P = L.P, N = L.N, S = L.S, M = x.size(0), g = H_ / Hkv_;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D_));
  auto q = q_proj->forward(x, on).view({M, H_, D_});
  auto k = k_proj->forward(x, on).view({M, Hkv_, D_});
  auto v = v_proj->forward(x, on).view({M, Hkv_, D_});
  // The softmax scale goes on the queries (M*H*D values instead of every score).
  q = (q * cos + rotate_half(q) * sin) * scale;
  k = k * cos + rotate_half(k) * sin;
  // Query head j*g + r uses KV head j (HF repeat_kv); queries are grouped per KV head so each
  // score block is one GEMM per KV head. Scores and probabilities stay in the model dtype:
  // libtorch's softmax (and its backward) accumulates bf16 in float32 and rounds once on output,
  // which is HF's softmax(float32).to(bf16) up to that rounding at a sixth of the memory traffic
  // (the score tensors are the largest of the step). The biases are 0 or kMasked, exact in bf16.
  auto kp = k.narrow(0, 0, P).permute({1, 0, 2});  // (Hkv, P, D)
  auto vp = v.narrow(0, 0, P).permute({1, 0, 2});  // (Hkv, P, D)

  // Prefix rows: causal attention within the prefix, (Hkv, g*P, D) x (Hkv, D, P).
  auto qp = q.narrow(0, 0, P).view({P, Hkv_, g, D_}).permute({1, 2, 0, 3}).reshape({Hkv_, g * P, D_});
  auto sp = torch::matmul(qp, kp.transpose(1, 2)).view({Hkv_, g, P, P}) + L.prefix_bias;
  auto pp = torch::softmax(sp, -1).view({Hkv_, g * P, P});
  auto out_p = torch::matmul(pp, vp).view({Hkv_, g, P, D_}).permute({2, 0, 1, 3}).reshape({P, H_ * D_});

  // Suffix rows: every prefix key (one GEMM per KV head over all rows), then the row's own keys.
  auto qs = q.narrow(0, P, N * S).view({N, S, Hkv_, g, D_}).permute({2, 0, 3, 1, 4})
                .reshape({Hkv_, N * g * S, D_});                         // (Hkv, N*g*S, D)
  auto ks = k.narrow(0, P, N * S).view({N, S, Hkv_, D_}).permute({2, 0, 1, 3});  // (Hkv, N, S, D)
  auto vs = v.narrow(0, P, N * S).view({N, S, Hkv_, D_}).permute({2, 0, 1, 3});  // (Hkv, N, S, D)
  auto s_pre = torch::matmul(qs, kp.transpose(1, 2)).view({Hkv_, N, g * S, P});
  auto s_own = torch::matmul(qs.view({Hkv_, N, g * S, D_}), ks.transpose(2, 3));  // (Hkv, N, gS, S)
  s_own = (s_own.view({Hkv_, N, g, S, S}) + L.suffix_bias).view({Hkv_, N, g * S, S});
  auto probs = torch::softmax(torch::cat({s_pre, s_own}, -1), -1);
  auto out_s = torch::matmul(probs.narrow(-1, 0, P).reshape({Hkv_, N * g * S, P}), vp)
                   .view({Hkv_, N, g * S, D_}) +
               torch::matmul(probs.narrow(-1, P, S), vs);  // (Hkv, N, gS, D)
  out_s = out_s.view({Hkv_, N, g, S, D_}).permute({1, 3, 0, 2, 4}).reshape({N * S, H_ * D_});
  return o_proj->forward(torch::cat({out_p, out_s}, 0), on);
}

MLPImpl::MLPImpl(const ModelConfig& c) {
  gate_proj = register_module("gate_proj", AdaptedLinear(c.hidden_size, c.intermediate_size, false));
  up_proj = register_module("up_proj", AdaptedLinear(c.hidden_size, c.intermediate_size, false));
  down_proj = register_module("down_proj", AdaptedLinear(c.intermediate_size, c.hidden_size, false));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x, bool on) {
  return down_proj->forward(silu_mul(gate_proj->forward(x, on), up_proj->forward(x, on)), on);
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c) {
  self_attn = register_module("self_attn", Attention(c));
  mlp = register_module("mlp", MLP(c));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                        const torch::Tensor& sin, const torch::Tensor& positions,
                                        KVCache* cache, int64_t layer, bool on) {
  auto h = x + self_attn->forward(input_layernorm->forward(x), cos, sin, positions, cache, layer, on);
  return h + mlp->forward(post_attention_layernorm->forward(h), on);
}

torch::Tensor DecoderLayerImpl::forward_shared_prefix(const torch::Tensor& x, const torch::Tensor& cos,
                                                      const torch::Tensor& sin,
                                                      const SharedPrefixLayout& layout, bool on) {
  auto h = x + self_attn->forward_shared_prefix(input_layernorm->forward(x), cos, sin, layout, on);
  return h + mlp->forward(post_attention_layernorm->forward(h), on);
}

Qwen2BodyImpl::Qwen2BodyImpl(const ModelConfig& c) {
  embed_tokens = register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) layers->push_back(DecoderLayer(c));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

namespace {
// The default generator of the device the layer runs on: LoRA dropout draws its masks there
// (the CPU generator on CPU, the CUDA one on a GPU).
at::Generator device_generator(const torch::Device& device) {
  return at::globalContext().defaultGenerator(device);
}
torch::Tensor generator_state(at::Generator gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}
void set_generator_state(at::Generator& gen, const torch::Tensor& state) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// Gradient checkpointing of one decoder layer: forward without keeping activations, backward
// re-runs the layer with grad enabled (restoring the layer's device RNG so dropout masks repeat)
// and back-propagates through it; parameter gradients accumulate as usual.
struct LayerCheckpoint : public torch::autograd::Function<LayerCheckpoint> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x,
                               torch::Tensor cos, torch::Tensor sin, torch::Tensor positions,
                               DecoderLayerImpl* layer, bool on) {
    ctx->save_for_backward({x, cos, sin, positions});
    ctx->saved_data["layer"] = reinterpret_cast<int64_t>(layer);
    ctx->saved_data["on"] = on;
    ctx->saved_data["rng"] = generator_state(device_generator(x.device()));
    return layer->forward(x, cos, sin, positions, nullptr, 0, on);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(ctx->saved_data["layer"].toInt());
    auto gen = device_generator(saved[0].device());
    auto now = generator_state(gen);
    set_generator_state(gen, ctx->saved_data["rng"].toTensor());
    auto x = saved[0].detach().requires_grad_(true);
    torch::Tensor y;
    {
      torch::AutoGradMode enable(true);
      y = layer->forward(x, saved[1], saved[2], saved[3], nullptr, 0, ctx->saved_data["on"].toBool());
    }
    set_generator_state(gen, now);
    torch::autograd::backward({y}, {grads[0]});
    return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};
}  // namespace

namespace {
// The same for a shared-prefix layer: the layout travels as ints and its two bias tensors.
struct SharedPrefixLayerCheckpoint : public torch::autograd::Function<SharedPrefixLayerCheckpoint> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x,
                               torch::Tensor cos, torch::Tensor sin, const SharedPrefixLayout& layout,
                               DecoderLayerImpl* layer, bool on) {
    ctx->save_for_backward({x, cos, sin});
    ctx->saved_data["layer"] = reinterpret_cast<int64_t>(layer);
    ctx->saved_data["on"] = on;
    ctx->saved_data["P"] = layout.P;
    ctx->saved_data["N"] = layout.N;
    ctx->saved_data["S"] = layout.S;
    ctx->saved_data["suffix_bias"] = layout.suffix_bias;
    ctx->saved_data["prefix_bias"] = layout.prefix_bias;
    ctx->saved_data["rng"] = at::detail::getDefaultCPUGenerator().get_state();
    return layer->forward_shared_prefix(x, cos, sin, layout, on);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(ctx->saved_data["layer"].toInt());
    SharedPrefixLayout layout;
    layout.P = ctx->saved_data["P"].toInt();
    layout.N = ctx->saved_data["N"].toInt();
    layout.S = ctx->saved_data["S"].toInt();
    layout.suffix_bias = ctx->saved_data["suffix_bias"].toTensor();
    layout.prefix_bias = ctx->saved_data["prefix_bias"].toTensor();
    auto gen = at::detail::getDefaultCPUGenerator();
    auto now = gen.get_state();
    gen.set_state(ctx->saved_data["rng"].toTensor());
    auto x = saved[0].detach().requires_grad_(true);
    torch::Tensor y;
    {
      torch::AutoGradMode enable(true);
      y = layer->forward_shared_prefix(x, saved[1], saved[2], layout, ctx->saved_data["on"].toBool());
    }
    gen.set_state(now);
    torch::autograd::backward({y}, {grads[0]});
    return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

// RoPE tables for any shape of positions (-1 = padding, treated as 0): (..., D) each, computed
// in float32 (float64 for a float64 model) as HF does, then cast to the model dtype.
std::pair<torch::Tensor, torch::Tensor> rope_tables(const torch::Tensor& positions, int64_t head_dim,
                                                    double theta, torch::ScalarType dtype) {
  const auto fd = dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  auto inv_freq = 1.0 / torch::pow(theta, torch::arange(0, head_dim, 2, positions.options()).to(torch::kFloat32) /
                                              static_cast<double>(head_dim));
  auto freqs = positions.clamp_min(0).to(fd).unsqueeze(-1) * inv_freq.to(fd);
  auto emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}
}  // namespace

CausalLMImpl::CausalLMImpl(const ModelConfig& c) : cfg_(c) {
  model = register_module("model", Qwen2Body(c));
  if (!c.tie_word_embeddings)
    lm_head = register_module("lm_head", Embedding(c.vocab_size, c.hidden_size));
}

torch::Tensor CausalLMImpl::lm_head_weight() const {
  return cfg_.tie_word_embeddings ? model->embed_tokens->weight : lm_head->weight;
}

torch::Tensor CausalLMImpl::forward_hidden(const torch::Tensor& ids, const torch::Tensor& positions,
                                           KVCache* cache) {
  RLVR_CHECK(ids.dim() == 2 && positions.sizes() == ids.sizes(),
             "forward: ids and positions must both be (N, T); got ", ids.sizes(), " and ",
             positions.sizes());
  const int64_t N = ids.size(0), T = ids.size(1);
  auto x = model->embed_tokens->forward(ids);
  const auto dtype = x.scalar_type();
  // RoPE tables for these positions, float32 then cast (HF): (N, 1, T, D).
  // HF: inv_freq = 1 / theta^(arange(0, D, 2) / D), all in float32.
  auto inv_freq = 1.0 / torch::pow(cfg_.rope_theta,
                                   torch::arange(0, cfg_.head_dim, 2, ids.options()).to(torch::kFloat32) /
                                       static_cast<double>(cfg_.head_dim));
  auto freqs = positions.clamp_min(0).to(torch::kFloat32).unsqueeze(-1) * inv_freq;
  if (dtype == torch::kFloat64) freqs = positions.clamp_min(0).to(torch::kFloat64).unsqueeze(-1) * inv_freq.to(torch::kFloat64);
  auto emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);
  auto cos = emb.cos().to(dtype), sin = emb.sin().to(dtype);
  if (cache) {
    if (cache->k.empty()) {
      const auto opts = x.options();
      for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
        cache->k.push_back(torch::zeros({N, cfg_.num_key_value_heads, T, cfg_.head_dim}, opts));
        cache->v.push_back(torch::zeros({N, cfg_.num_key_value_heads, T, cfg_.head_dim}, opts));
      }
      cache->slot_pos = torch::full({N, T}, -1, positions.options());
      cache->used = 0;
    }
    RLVR_CHECK(cache->rows() == N, "forward: cache has ", cache->rows(), " rows, batch has ", N);
    cache->ensure_capacity(T);
    cache->slot_pos.narrow(1, cache->used, T).copy_(positions);
  }
  const bool ckpt = checkpointing_ && !cache && torch::GradMode::is_enabled();
  // The first layer's input must require grad, or the checkpointed layers would be cut off
  // from autograd when the embeddings are frozen (LoRA).
  if (ckpt && !x.requires_grad()) x = x.detach().requires_grad_(true);
  for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
    auto* layer = model->layers[l]->as<DecoderLayer>();
    x = ckpt ? LayerCheckpoint::apply(x, cos, sin, positions, layer, adapters_on_)
             : layer->forward(x, cos, sin, positions, cache, l, adapters_on_);
  }
  if (cache) cache->used += T;
  return model->norm->forward(x);
}

torch::Tensor CausalLMImpl::forward_hidden_shared_prefix(const torch::Tensor& prefix_ids,
                                                          const torch::Tensor& ids,
                                                          const torch::Tensor& positions) {
  RLVR_CHECK(ids.dim() == 2 && positions.sizes() == ids.sizes(),
             "forward_hidden_shared_prefix: ids and positions must both be (N, S); got ", ids.sizes(),
             " and ", positions.sizes());
  RLVR_CHECK(prefix_ids.numel() > 0 && prefix_ids.numel() == prefix_ids.size(-1),
             "forward_hidden_shared_prefix: prefix_ids must be a non-empty (P) or (1, P) tensor; got ",
             prefix_ids.sizes());
  const int64_t P = prefix_ids.numel(), N = ids.size(0), S = ids.size(1);
  RLVR_CHECK(!(positions >= 0).logical_and(positions < P).any().item<bool>(),
             "forward_hidden_shared_prefix: suffix positions must be >= the prefix length ", P,
             " (or -1 for padding)");
  auto x = model->embed_tokens->forward(torch::cat({prefix_ids.reshape({P}), ids.reshape({N * S})}));
  const auto dtype = x.scalar_type();
  auto all_pos = torch::cat({torch::arange(P, positions.options()), positions.reshape({N * S})});
  auto [cos, sin] = rope_tables(all_pos, cfg_.head_dim, cfg_.rope_theta, dtype);
  cos = cos.unsqueeze(1);  // (M, 1, D): broadcast over heads
  sin = sin.unsqueeze(1);
  SharedPrefixLayout layout;
  layout.P = P;
  layout.N = N;
  layout.S = S;
  // A suffix query sees its row's keys at positions >= 0 and <= its own; the prefix is causal.
  auto kp = positions.view({N, 1, 1, S}), qp = positions.view({N, 1, S, 1});
  auto bias_dtype = torch::TensorOptions().dtype(dtype).device(x.device());
  layout.suffix_bias = torch::zeros({N, 1, S, S}, bias_dtype)
                           .masked_fill((kp >= 0).logical_and(kp <= qp).logical_not(), kMasked);
  layout.prefix_bias = torch::full({P, P}, kMasked, bias_dtype).triu(1);
  const bool ckpt = checkpointing_ && torch::GradMode::is_enabled();
  if (ckpt && !x.requires_grad()) x = x.detach().requires_grad_(true);
  for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
    auto* layer = model->layers[l]->as<DecoderLayer>();
    x = ckpt ? SharedPrefixLayerCheckpoint::apply(x, cos, sin, layout, layer, adapters_on_)
             : layer->forward_shared_prefix(x, cos, sin, layout, adapters_on_);
  }
  return model->norm->forward(x.narrow(0, P, N * S)).view({N, S, x.size(1)});
}

torch::Tensor CausalLMImpl::logits(const torch::Tensor& hidden) {
  return upcast(torch::matmul(hidden, lm_head_weight().t()));
}

namespace {
template <typename Fn>
void for_each_linear(const CausalLMImpl& m, Fn fn) {
  for (auto& item : m.named_modules()) {
    if (auto* lin = item.value()->as<AdaptedLinearImpl>()) {
      auto pos = item.key().rfind('.');
      fn(item.key(), item.key().substr(pos == std::string::npos ? 0 : pos + 1), *lin);
    }
  }
}
}  // namespace

void CausalLMImpl::add_lora(const LoraConfig& lora, uint64_t seed) {
  RLVR_CHECK(!lora_, "the model already has a LoRA adapter");
  const std::vector<std::string> known = {"q_proj", "k_proj", "v_proj", "o_proj",
                                          "gate_proj", "up_proj", "down_proj"};
  for (const auto& t : lora.target_modules)
    RLVR_CHECK(std::find(known.begin(), known.end(), t) != known.end(), "lora_target_modules: '", t,
               "' is not a projection of this model (choose from q_proj, k_proj, v_proj, o_proj, "
               "gate_proj, up_proj, down_proj)");
  torch::manual_seed(seed);
  for (auto& p : parameters()) p.set_requires_grad(false);
  for_each_linear(*this, [&](const std::string&, const std::string& leaf, AdaptedLinearImpl& lin) {
    if (std::find(lora.target_modules.begin(), lora.target_modules.end(), leaf) !=
        lora.target_modules.end())
      lin.add_lora(lora.r, lora.alpha, lora.dropout, torch::kFloat32);
  });
  lora_ = lora;
}

const LoraConfig& CausalLMImpl::lora_config() const {
  RLVR_CHECK(lora_.has_value(), "the model has no LoRA adapter");
  return *lora_;
}

void CausalLMImpl::merge_lora() {
  for_each_linear(*this, [](const std::string&, const std::string&, AdaptedLinearImpl& l) { l.merge(); });
}
void CausalLMImpl::unmerge_lora() {
  for_each_linear(*this, [](const std::string&, const std::string&, AdaptedLinearImpl& l) { l.unmerge(); });
}

void CausalLMImpl::set_full_finetune(bool on) {
  RLVR_CHECK(!on || !is_4bit(), "full fine-tuning needs the model's own weights, not 4-bit codes: "
             "QLoRA trains adapters only (use_peft: true), or load without load_in_4bit");
  for (auto& item : named_parameters()) {
    bool is_lora = item.key().find("lora_") != std::string::npos;
    item.value().set_requires_grad(is_lora || on);
  }
}

std::vector<std::pair<std::string, torch::Tensor>> CausalLMImpl::trainable_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : named_parameters())
    if (item.value().requires_grad()) out.emplace_back(item.key(), item.value());
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> CausalLMImpl::adapter_state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : named_parameters()) {
    const std::string& n = item.key();
    auto pos = n.rfind(".lora_");
    if (pos == std::string::npos) continue;
    out.emplace_back("base_model.model." + n + ".weight", item.value());
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> CausalLMImpl::base_state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : named_parameters())
    if (item.key().find("lora_") == std::string::npos) out.emplace_back(item.key(), item.value());
  return out;
}

void CausalLMImpl::quantize_4bit(const Quant4bitOptions& o) {
  for_each_linear(*this, [&](const std::string&, const std::string&, AdaptedLinearImpl& l) {
    if (!l.quantized()) l.quantize(o);
  });
  // The float weights just freed fit nothing that comes next: out of the CPU cache with them.
  release_cpu_cache();
}

bool CausalLMImpl::is_4bit() const {
  bool any = false;
  for_each_linear(*this, [&](const std::string&, const std::string&, AdaptedLinearImpl& l) {
    any = any || l.quantized();
  });
  return any;
}

std::vector<std::pair<std::string, std::shared_ptr<const QuantizedWeight>>> CausalLMImpl::quantized_weights() const {
  std::vector<std::pair<std::string, std::shared_ptr<const QuantizedWeight>>> out;
  for_each_linear(*this, [&](const std::string& name, const std::string&, AdaptedLinearImpl& l) {
    if (l.quantized()) out.emplace_back(name + ".weight", l.qweight);
  });
  return out;
}

CausalLM make_random_model(const ModelConfig& cfg, uint64_t seed) {
  CausalLM m(cfg);
  auto gen = at::detail::createCPUGenerator(seed);
  torch::NoGradGuard ng;
  for (auto& [name, p] : m->base_state()) {
    bool is_norm = name.find("norm") != std::string::npos;
    bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (is_norm)
      p.fill_(1.0);
    else if (is_bias)
      p.zero_();
    else
      p.normal_(0.0, cfg.initializer_range, gen);
  }
  return m;
}

torch::Dtype parse_dtype(const std::string& name) {
  if (name == "float32" || name == "fp32" || name == "float") return torch::kFloat32;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16" || name == "half") return torch::kFloat16;
  if (name == "float64" || name == "double") return torch::kFloat64;
  fail("unknown dtype '", name, "' (use float32, bfloat16, float16 or float64)");
}

torch::Dtype resolve_dtype(const std::string& choice, const ModelConfig& cfg, const torch::Device& dev) {
  if (choice != "auto") {
    const torch::Dtype d = parse_dtype(choice);
    RLVR_CHECK(d != torch::kFloat16 || !dev.is_cpu(), "dtype ", choice,
               ": float16 does not run on CPU; use bfloat16 or float32 (or a CUDA device)");
    return d;
  }
  torch::Dtype d = parse_dtype(cfg.torch_dtype);
  return d == torch::kFloat16 && dev.is_cpu() ? torch::kFloat32 : d;
}

std::string dtype_name(torch::Dtype d) {
  switch (d) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    case torch::kFloat64: return "float64";
    default: return c10::toString(d);
  }
}

namespace {
void check_shape(const Checkpoint& ckpt, const std::string& name, at::IntArrayRef have, at::IntArrayRef want) {
  RLVR_CHECK(have == want, ckpt.path(), ": tensor '", name, "' has shape ", have, " but config.json implies ",
             want);
}

// One more than the largest N of the checkpoint's model.layers.N.* names (0 without any).
int64_t checkpoint_layers(const Checkpoint& ckpt) {
  const std::string prefix = "model.layers.";
  int64_t layers = 0;
  for (const std::string& name : ckpt.names()) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const char* end = name.data() + name.size();
    int64_t n = 0;
    auto [at, ec] = std::from_chars(name.data() + prefix.size(), end, n);
    if (ec == std::errc::result_out_of_range) n = INT64_MAX - 1;  // a layer no config can have
    if (ec == std::errc::result_out_of_range || (ec == std::errc() && at != end && *at == '.'))
      layers = std::max(layers, n + 1);
  }
  return layers;
}

// config.json against the weights before anything is allocated: the layer count, and the tensors
// that carry every size (vocab_size, hidden_size, heads x head_dim, intermediate_size). Once they
// match, building the model costs no more memory than the checkpoint holds.
void check_config_fits(const ModelConfig& c, const Checkpoint& ckpt) {
  const int64_t layers = checkpoint_layers(ckpt);
  const std::string held = layers == 0 ? "no model.layers.* tensors"
                                        : std::to_string(layers) + " layers (model.layers.0 to model.layers." +
                                              std::to_string(layers - 1) + ")";
  RLVR_CHECK(layers == c.num_hidden_layers, ckpt.path(), ": config.json has num_hidden_layers ",
             c.num_hidden_layers, " but the weights hold ", held,
             "; make num_hidden_layers match the weights, or use the weights this config was written for");
  const int64_t C = c.hidden_size, D = c.head_dim;
  const std::string l0 = "model.layers.0.";
  const std::pair<std::string, std::vector<int64_t>> sizes[] = {
      {"model.embed_tokens.weight", {c.vocab_size, C}},
      {l0 + "self_attn.q_proj.weight", {c.num_attention_heads * D, C}},
      {l0 + "self_attn.k_proj.weight", {c.num_key_value_heads * D, C}},
      {l0 + "mlp.gate_proj.weight", {c.intermediate_size, C}}};
  for (const auto& [name, want] : sizes) check_shape(ckpt, name, stored_weight_shape(ckpt, name), want);
}

// q4 on a checkpoint that is already 4-bit: its codes load as stored (double quantization and
// blocksize are the checkpoint's); only a different quant type is refused.
void check_requested_4bit(const std::string& dir, const ModelConfig& cfg, const Quant4bitOptions& q4) {
  if (!q4.enabled || !cfg.quantization || q4.type == cfg.quantization->quant_type) return;
  const char* have = quant::quant_type_name(cfg.quantization->quant_type);
  fail(dir, ": the checkpoint is ", have, " 4-bit (config.json quantization_config) but ",
       quant::quant_type_name(q4.type), " was asked for; ask for ", have,
       " or run rlvr quantize on the unquantized model");
}

// The decoder Linear weights as 4-bit codes on the CPU, one layer at a time, before anything else
// is copied (the model's .to() moves them): read as a bitsandbytes checkpoint stores them (a weight
// without a quant state stays in the model dtype), or quantized from the checkpoint tensor cast to
// the model dtype (as transformers casts before bitsandbytes quantizes). set_quantized drops each
// layer's float weight before the next is read, so the model never holds them all.
void load_4bit_linears(CausalLMImpl& m, const Checkpoint& ckpt, torch::Dtype dtype, const Quant4bitOptions& q4) {
  const auto& stored = m.config().quantization;
  torch::NoGradGuard ng;
  for_each_linear(m, [&](const std::string& module, const std::string&, AdaptedLinearImpl& lin) {
    const std::string name = module + ".weight";
    const int64_t out = lin.weight.size(0), in = lin.weight.size(1);
    if (stored) {
      std::optional<QuantizedWeight> q = read_bnb_weight(ckpt, name, out, in, *stored);
      if (q) lin.set_quantized(std::make_shared<const QuantizedWeight>(std::move(*q)));
      for (const char* part : {"", ".absmax", ".nested_absmax"}) ckpt.release(name + part);  // copied out
      return;
    }
    const torch::Tensor src = ckpt.get(name);
    check_shape(ckpt, name, src.sizes(), {out, in});
    lin.set_quantized(std::make_shared<const QuantizedWeight>(quantize_weight(src.to(dtype), q4)));
    ckpt.release(name);
    // This layer's float scratch leaves the CPU cache: kept there, it was not reused by the next
    // layers and the load's peak grew by 0.7 GB on the Qwen2.5-0.5B shape.
    release_cpu_cache();
  });
}
}  // namespace

CausalLM load_model(const std::string& dir, torch::Dtype dtype, torch::Device device, const Quant4bitOptions& q4) {
  ModelConfig cfg = ModelConfig::load(dir);
  check_requested_4bit(dir, cfg, q4);
  Checkpoint ckpt = Checkpoint::open(dir);
  check_config_fits(cfg, ckpt);
  CausalLM m(cfg);
  if (q4.enabled || cfg.quantization) load_4bit_linears(*m, ckpt, dtype, q4);
  m->to(device, dtype);
  torch::NoGradGuard ng;
  for (auto& [name, p] : m->base_state()) {
    torch::Tensor src = ckpt.get(name);
    check_shape(ckpt, name, src.sizes(), p.sizes());
    p.copy_(src);
    ckpt.release(name);  // its mapped pages would count as this process's memory until the end
  }
  for (auto& p : m->parameters()) p.set_requires_grad(false);
  // The float32 weights the modules were built with are gone: their blocks fit nothing that comes
  // next, so they leave the CPU cache instead of filling it.
  release_cpu_cache();
  return m;
}

void save_model(CausalLM& model, const std::string& dir, torch::Dtype dtype, nlohmann::json config) {
  make_dirs(dir);
  ModelConfig cfg = model->config();
  cfg.torch_dtype = dtype_name(dtype);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (auto& [name, p] : model->base_state()) tensors.emplace_back(name, p.detach().to(dtype));
  // 4-bit weights in bitsandbytes' layout with quantization_config, as transformers saves them.
  const auto q4 = model->quantized_weights();
  cfg.quantization.reset();
  if (!q4.empty()) cfg.quantization = bnb_quantization(q4, dtype);
  for (const auto& [name, q] : q4)
    for (auto& t : bnb_tensors(name, *q)) tensors.push_back(std::move(t));
  save_safetensors(join_path(dir, "model.safetensors"), tensors, {{"format", "pt"}});
  const nlohmann::json ours = cfg.to_json();
  if (config.is_null()) {
    config = ours;
  } else {
    config["torch_dtype"] = ours["torch_dtype"];
    if (config.contains("dtype")) config["dtype"] = ours["torch_dtype"];  // transformers >= 5's name
    config.erase("quantization_config");
    if (ours.contains("quantization_config")) config["quantization_config"] = ours["quantization_config"];
  }
  write_json_file(join_path(dir, "config.json"), config);
}

void save_adapter(const CausalLM& model, const std::string& dir, const std::string& base_model) {
  make_dirs(dir);
  save_safetensors(join_path(dir, "adapter_model.safetensors"), model->adapter_state(),
                   {{"format", "pt"}});
  write_json_file(join_path(dir, "adapter_config.json"), model->lora_config().to_peft_json(base_model));
}

void load_adapter(CausalLM& model, const std::string& dir) {
  std::string cfg_path = join_path(dir, "adapter_config.json");
  RLVR_CHECK(file_exists(cfg_path), dir, ": no adapter_config.json; pass a PEFT adapter directory");
  LoraConfig lora = LoraConfig::from_peft_json(read_json_file(cfg_path), cfg_path);
  if (!model->has_lora()) {
    model->add_lora(lora, 0);
  } else {
    const LoraConfig& have = model->lora_config();
    RLVR_CHECK(have.r == lora.r && have.alpha == lora.alpha && have.target_modules == lora.target_modules,
               cfg_path, ": adapter (r ", lora.r, ", alpha ", lora.alpha,
               ") does not match the model's LoRA configuration (r ", have.r, ", alpha ", have.alpha, ")");
  }
  auto file = SafetensorsFile::open(join_path(dir, "adapter_model.safetensors"));
  auto state = model->adapter_state();
  std::set<std::string> expected;
  torch::NoGradGuard ng;
  for (auto& [name, p] : state) {
    expected.insert(name);
    torch::Tensor src = file.get(name);
    RLVR_CHECK(src.sizes() == p.sizes(), file.path(), ": tensor '", name, "' has shape ",
               src.sizes(), " but the model expects ", p.sizes());
    p.copy_(src);
  }
  for (const auto& e : file.entries())
    RLVR_CHECK(expected.count(e.name), file.path(), ": unexpected tensor '", e.name,
               "' (not a LoRA weight of this model and config)");
}

}  // namespace rlvr
