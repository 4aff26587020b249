// AdaptedLinear forward, LoRA init / merge / unmerge, and PEFT adapter_config.json mapping.
#include "rlvr/model/lora.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <mutex>

#include "rlvr/core/error.h"

namespace rlvr {

namespace {

// splitmix64's finaliser: a counter-based generator, one 64-bit hash per pair of elements.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// dst = src * mask / (1 - p) where element i is dropped with probability p, decided by
// hash(seed, i) alone: the same seed gives the same mask for any shape of work split.
void masked_scale(const torch::Tensor& src, torch::Tensor& dst, uint64_t seed, double p) {
  const int64_t n = src.numel();
  const uint64_t keep_below = static_cast<uint64_t>((1.0 - p) * 4294967296.0);  // of 2^32
  const double scale = 1.0 / (1.0 - p);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, src.scalar_type(), "lora_dropout", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* in = src.data_ptr<scalar_t>();
    scalar_t* out = dst.data_ptr<scalar_t>();
    const acc_t sc = static_cast<acc_t>(scale);
    // Pairs of elements share a hash; grain in pairs.
    at::parallel_for(0, (n + 1) / 2, 16384, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const uint64_t h = mix64(seed + static_cast<uint64_t>(k) * 0x9E3779B97F4A7C15ull);
        const int64_t i = 2 * k;
        out[i] = (h & 0xFFFFFFFFull) < keep_below ? static_cast<scalar_t>(static_cast<acc_t>(in[i]) * sc)
                                                  : static_cast<scalar_t>(0);
        if (i + 1 < n)
          out[i + 1] = (h >> 32) < keep_below ? static_cast<scalar_t>(static_cast<acc_t>(in[i + 1]) * sc)
                                              : static_cast<scalar_t>(0);
      }
    });
  });
}

// Inverted dropout whose mask is never stored: forward draws one seed from the default CPU
// generator (so restoring its state, as gradient checkpointing does, repeats the mask) and
// backward recomputes the mask from it. torch::dropout's Bernoulli draw costs ~11 ns per element
// here; this is a hash per two elements.
struct HashDropout : public torch::autograd::Function<HashDropout> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, double p) {
    uint64_t seed;
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      seed = at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
    }
    auto src = x.contiguous();
    auto out = torch::empty_like(src);
    masked_scale(src, out, seed, p);
    ctx->saved_data["seed"] = static_cast<int64_t>(seed);
    ctx->saved_data["p"] = p;
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto g = grads[0].contiguous();
    auto out = torch::empty_like(g);
    masked_scale(g, out, static_cast<uint64_t>(ctx->saved_data["seed"].toInt()),
                 ctx->saved_data["p"].toDouble());
    return {out, torch::Tensor()};
  }
};

bool half_precision(torch::ScalarType t) { return t == torch::kBFloat16 || t == torch::kHalf; }

}  // namespace

torch::Tensor lora_dropout(const torch::Tensor& x, double p) {
  RLVR_CHECK(p >= 0 && p < 1, "lora_dropout must be in [0, 1), got ", p);
  if (p == 0) return x;
  if (!x.device().is_cpu()) return torch::dropout(x, p, true);
  return HashDropout::apply(x, p);
}

AdaptedLinearImpl::AdaptedLinearImpl(int64_t in, int64_t out, bool with_bias) {
  // Uninitialised, like Embedding's: load_model and make_random_model write every weight, and memory
  // never written costs no RSS, so a 4-bit load never holds the float Linear weights.
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}));
}

void AdaptedLinearImpl::add_lora(int64_t r, double alpha, double dropout, torch::Dtype dtype) {
  RLVR_CHECK(r > 0, "lora_r must be positive (got ", r, ")");
  RLVR_CHECK(!merged_, "cannot add a LoRA adapter to a merged layer");
  const int64_t in = in_features(), out = out_features();
  auto opts = torch::TensorOptions().dtype(dtype).device(quantized() ? qweight->packed.device() : weight.device());
  // PEFT: kaiming_uniform_(a=sqrt(5)) on A == U(-1/sqrt(in), 1/sqrt(in)); B = 0. Drawn from the
  // CPU generator in float32 whatever the layer's device, so a seed gives the same adapter on
  // CPU and on a GPU.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  auto a = torch::empty({r, in}, torch::kFloat32).uniform_(-bound, bound).to(opts);
  lora_A = register_parameter("lora_A", a);
  lora_B = register_parameter("lora_B", torch::zeros({out, r}, opts));
  scaling_ = alpha / static_cast<double>(r);
  dropout_ = dropout;
}

torch::Tensor AdaptedLinearImpl::forward(const torch::Tensor& x, bool adapters_on) {
  torch::Tensor y = quantized() ? linear_4bit(x, qweight, bias)
                                : torch::nn::functional::linear(x, weight, bias.defined() ? bias : torch::Tensor());
  if (!has_lora() || merged_ || !adapters_on) {
    if (merged_ && !adapters_on) {
      // Merged weights carry the adapter; take it back out for the base output.
      auto delta = torch::nn::functional::linear(x.to(lora_A.scalar_type()), lora_A);
      y = y - (torch::nn::functional::linear(delta, lora_B) * scaling_).to(y.scalar_type());
    }
    return y;
  }
  // A half-precision input runs the adapter in its own dtype, as training under bf16 autocast
  // does (TRL, PEFT): the fp32 adapter weights are cast (r x in, out x r: tiny), the (.., in)
  // activations are not. Otherwise the adapter's dtype.
  const auto cd = half_precision(x.scalar_type()) ? x.scalar_type() : lora_A.scalar_type();
  torch::Tensor h = x.to(cd);
  if (dropout_ > 0 && is_training()) h = lora_dropout(h, dropout_);
  torch::Tensor a = lora_A.to(cd), b = (scaling_ == 1.0 ? lora_B : lora_B * scaling_).to(cd);
  torch::Tensor t = torch::nn::functional::linear(h, a);  // (..., r)
  if (cd != y.scalar_type()) return y + torch::nn::functional::linear(t, b).to(y.scalar_type());
  // y + t B^T as one GEMM with beta = 1.
  const int64_t out = y.size(-1);
  return torch::addmm(y.reshape({-1, out}), t.reshape({-1, t.size(-1)}), b.t()).view(y.sizes());
}

namespace {
[[noreturn]] void refuse_4bit_merge() {
  fail("cannot merge a LoRA adapter into 4-bit weights (lossy); merge into the unquantized base: "
       "rlvr merge --model BASE --adapter DIR --out DIR");
}
}  // namespace

void AdaptedLinearImpl::merge() {
  if (quantized()) refuse_4bit_merge();
  if (!has_lora() || merged_) return;
  torch::NoGradGuard ng;
  weight.add_((lora_B.matmul(lora_A) * scaling_).to(weight.scalar_type()));
  merged_ = true;
}

void AdaptedLinearImpl::unmerge() {
  if (quantized()) refuse_4bit_merge();
  if (!has_lora() || !merged_) return;
  torch::NoGradGuard ng;
  weight.sub_((lora_B.matmul(lora_A) * scaling_).to(weight.scalar_type()));
  merged_ = false;
}

void AdaptedLinearImpl::quantize(const Quant4bitOptions& o) {
  RLVR_CHECK(!quantized(), "quantize: the layer is already 4-bit");
  set_quantized(std::make_shared<const QuantizedWeight>(quantize_weight(weight, o)));
}

void AdaptedLinearImpl::set_quantized(std::shared_ptr<const QuantizedWeight> q) {
  RLVR_CHECK(q != nullptr, "set_quantized: no 4-bit weight");
  RLVR_CHECK(!merged_, "cannot quantize a layer with a merged LoRA adapter; unmerge it first");
  RLVR_CHECK(q->out == out_features() && q->in == in_features(), "set_quantized: a ", q->out, " x ", q->in,
             " 4-bit weight does not fit this ", out_features(), " x ", in_features(), " layer");
  // The float weight stops being a parameter (no optimizer, state dict or .to() sees it) and is freed.
  parameters_.erase("weight");
  weight = torch::Tensor();
  qweight = std::move(q);
}

void AdaptedLinearImpl::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  torch::nn::Module::to(device, dtype, non_blocking);
  move_codes(device, non_blocking);
}

void AdaptedLinearImpl::to(torch::Device device, bool non_blocking) {
  torch::nn::Module::to(device, non_blocking);
  move_codes(device, non_blocking);
}

void AdaptedLinearImpl::move_codes(torch::Device device, bool non_blocking) {
  if (!quantized() || qweight->packed.device() == device) return;
  auto q = std::make_shared<QuantizedWeight>(*qweight);
  for (torch::Tensor* t : {&q->packed, &q->quant_map, &q->absmax, &q->nested_codes, &q->nested_absmax, &q->nested_map})
    if (t->defined()) *t = t->to(device, non_blocking);
  qweight = std::move(q);
}

nlohmann::json LoraConfig::to_peft_json(const std::string& base_model) const {
  return {{"peft_type", "LORA"},
          {"task_type", "CAUSAL_LM"},
          {"base_model_name_or_path", base_model},
          {"r", r},
          {"lora_alpha", alpha},
          {"lora_dropout", dropout},
          {"target_modules", target_modules},
          {"bias", "none"},
          {"fan_in_fan_out", false},
          {"inference_mode", true},
          {"init_lora_weights", true},
          {"use_rslora", false},
          {"use_dora", false},
          {"modules_to_save", nullptr},
          {"layers_to_transform", nullptr},
          {"revision", nullptr}};
}

LoraConfig LoraConfig::from_peft_json(const nlohmann::json& j, const std::string& src) {
  LoraConfig c;
  RLVR_CHECK(j.is_object(), src, ": must be a JSON object");
  if (j.contains("peft_type"))
    RLVR_CHECK(j["peft_type"] == "LORA", src, ": peft_type ", j["peft_type"].dump(),
               " is not supported (only LORA)");
  try {
    c.r = j.at("r").get<int64_t>();
    c.alpha = j.value("lora_alpha", static_cast<double>(c.r));
    c.dropout = j.value("lora_dropout", 0.0);
    if (j.contains("target_modules")) {
      if (j["target_modules"].is_string())
        c.target_modules = {j["target_modules"].get<std::string>()};
      else
        c.target_modules = j["target_modules"].get<std::vector<std::string>>();
    }
  } catch (const nlohmann::json::exception& e) {
    fail(src, ": bad adapter config (", e.what(), ")");
  }
  if (j.value("use_dora", false) || j.value("use_rslora", false))
    fail(src, ": DoRA / rsLoRA adapters are not supported");
  return c;
}

}  // namespace rlvr
