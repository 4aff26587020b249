// 4-bit Linear weights: quantize through rlvr/quant, dequantize (a vectorised table lookup per
// block on CPU, tensor ops elsewhere, the quant module's loop as the reference), and the linear
// whose backward re-dequantizes instead of keeping the weight.
#include "rlvr/model/quant_linear.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "rlvr/core/error.h"

namespace rlvr {

namespace {

int64_t bytes_of(const torch::Tensor& t) { return t.defined() ? t.numel() * t.element_size() : 0; }

template <typename T>
torch::Tensor tensor_of(const std::vector<T>& v, torch::ScalarType type, const torch::Device& dev) {
  auto t = torch::empty({static_cast<int64_t>(v.size())}, torch::TensorOptions().dtype(type));
  if (!v.empty()) std::memcpy(t.data_ptr(), v.data(), v.size() * sizeof(T));
  return t.to(dev);
}

template <typename T>
std::vector<T> vector_of(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU).contiguous();
  const T* p = c.data_ptr<T>();
  return std::vector<T>(p, p + c.numel());
}

void check_weight(const QuantizedWeight& q, const char* what) {
  const torch::Tensor& scales = q.nested ? q.nested_codes : q.absmax;
  RLVR_CHECK(q.packed.defined() && scales.defined() && q.quant_map.defined(), what,
             ": the 4-bit weight has no codes or statistics");
  const int64_t n = q.out * q.in, blocks = (n + q.blocksize - 1) / q.blocksize;
  RLVR_CHECK(q.packed.numel() == (n + 1) / 2 && scales.numel() == blocks && q.quant_map.numel() == 16,
             what, ": the 4-bit weight (", q.out, " x ", q.in, ", blocksize ", q.blocksize, ") has ",
             q.packed.numel(), " code bytes, ", scales.numel(), " absmax values and ",
             q.quant_map.numel(), " code values; expected ", (n + 1) / 2, ", ", blocks, " and 16");
  // The CPU kernels read the raw buffers.
  RLVR_CHECK(q.packed.scalar_type() == torch::kUInt8 && q.quant_map.scalar_type() == torch::kFloat32 &&
                 q.packed.is_contiguous() && q.quant_map.is_contiguous() && scales.is_contiguous() &&
                 scales.scalar_type() == (q.nested ? torch::kUInt8 : torch::kFloat32),
             what, ": the 4-bit weight needs contiguous uint8 codes, float32 code values and absmax (uint8 "
             "when nested)");
  if (!q.nested) return;
  RLVR_CHECK(q.nested_blocksize > 0 && q.nested_absmax.defined() && q.nested_map.defined() &&
                 q.nested_absmax.numel() == (blocks + q.nested_blocksize - 1) / q.nested_blocksize &&
                 q.nested_map.numel() == 256 && q.nested_absmax.scalar_type() == torch::kFloat32 &&
                 q.nested_map.scalar_type() == torch::kFloat32 && q.nested_absmax.is_contiguous() &&
                 q.nested_map.is_contiguous(),
             what, ": the 4-bit weight's nested statistics need ", (blocks + q.nested_blocksize - 1) / q.nested_blocksize,
             " float32 nested absmax values and a 256-value float32 map");
}

// The scale of block b: the absmax, or with double quantization its reconstruction (a float
// product, then a float sum, as quant::dequantize_nested; this file is built without FMA
// contraction).
struct BlockScales {
  const float* absmax = nullptr;
  const uint8_t* codes = nullptr;
  const float* nested_absmax = nullptr;
  const float* map = nullptr;
  float offset = 0;
  int64_t nested_blocksize = 256;
  explicit BlockScales(const QuantizedWeight& q) {
    if (!q.nested) {
      absmax = q.absmax.data_ptr<float>();
      return;
    }
    codes = q.nested_codes.data_ptr<uint8_t>();
    nested_absmax = q.nested_absmax.data_ptr<float>();
    map = q.nested_map.data_ptr<float>();
    offset = q.offset;
    nested_blocksize = q.nested_blocksize;
  }
  float operator()(int64_t b) const {
    if (absmax) return absmax[b];
    const float scaled = map[codes[b]] * nested_absmax[b / nested_blocksize];
    return scaled + offset;
  }
};

// --- CPU dequantization: per block a 16-entry table (code value * absmax, float32, rounded to
// the output type), then one table lookup per nibble. Element e is in byte e / 2, the high
// nibble when e is even.

uint16_t bf16_bits(float v) { return c10::BFloat16(v).x; }  // round to nearest even, as .to(bf16)

template <typename T>
void lookup_scalar(const uint8_t* packed, int64_t e0, int64_t e1, const T* table, T* out) {
  for (int64_t e = e0; e < e1; ++e) {
    const uint8_t b = packed[e >> 1];
    out[e - e0] = table[(e & 1) ? (b & 0x0F) : (b >> 4)];
  }
}

// The 32 nibbles of 16 bytes in element order: elements 0..15 in the low 128-bit lane.
__attribute__((target("avx2"))) inline __m256i nibbles_avx2(const uint8_t* p) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i mask = _mm_set1_epi8(0x0F);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), mask), lo = _mm_and_si128(b, mask);
  return _mm256_set_m128i(_mm_unpackhi_epi8(hi, lo), _mm_unpacklo_epi8(hi, lo));
}

// bf16: the table's low and high bytes are two 16-byte pshufb tables.
__attribute__((target("avx2"))) void lookup_avx2(const uint8_t* p, int64_t groups, const uint16_t* table,
                                                 uint16_t* out) {
  const __m128i split = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  const __m128i t0 = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(table)), split);
  const __m128i t1 = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(table + 8)), split);
  const __m256i tlo = _mm256_broadcastsi128_si256(_mm_unpacklo_epi64(t0, t1));
  const __m256i thi = _mm256_broadcastsi128_si256(_mm_unpackhi_epi64(t0, t1));
  for (int64_t g = 0; g < groups; ++g) {
    const __m256i idx = nibbles_avx2(p + 16 * g);
    const __m256i vlo = _mm256_shuffle_epi8(tlo, idx), vhi = _mm256_shuffle_epi8(thi, idx);
    const __m256i a = _mm256_unpacklo_epi8(vlo, vhi);  // elements 0..7 | 16..23
    const __m256i c = _mm256_unpackhi_epi8(vlo, vhi);  // elements 8..15 | 24..31
    auto* o = reinterpret_cast<__m256i*>(out + 32 * g);
    _mm256_storeu_si256(o, _mm256_permute2x128_si256(a, c, 0x20));
    _mm256_storeu_si256(o + 1, _mm256_permute2x128_si256(a, c, 0x31));
  }
}

// float32: two 8-entry permutes, the nibble's bit 3 picks between them.
__attribute__((target("avx2"))) void lookup_avx2(const uint8_t* p, int64_t groups, const float* table,
                                                 float* out) {
  const __m256 t0 = _mm256_loadu_ps(table), t1 = _mm256_loadu_ps(table + 8);
  for (int64_t g = 0; g < groups; ++g) {
    const __m256i idx = nibbles_avx2(p + 16 * g);
    const __m128i halves[2] = {_mm256_castsi256_si128(idx), _mm256_extracti128_si256(idx, 1)};
    for (int k = 0; k < 4; ++k) {
      const __m128i part = (k % 2 == 0) ? halves[k / 2] : _mm_srli_si128(halves[k / 2], 8);
      const __m256i i32 = _mm256_cvtepu8_epi32(part);
      const __m256 pick = _mm256_castsi256_ps(_mm256_slli_epi32(i32, 28));
      const __m256 v = _mm256_blendv_ps(_mm256_permutevar8x32_ps(t0, i32), _mm256_permutevar8x32_ps(t1, i32), pick);
      _mm256_storeu_ps(out + 32 * g + 8 * k, v);
    }
  }
}

// float32 on AVX-512: one permute looks the whole 16-entry table up. (A bf16 twin with vpermw
// measured slower than the AVX2 pshufb kernel: 8.0 against 8.7 G values/s on one core.)
__attribute__((target("avx512f"))) void lookup_avx512(const uint8_t* p, int64_t groups, const float* table,
                                                    float* out) {
  const __m512 t = _mm512_loadu_ps(table);
  for (int64_t g = 0; g < groups; ++g) {
    const __m256i idx = nibbles_avx2(p + 16 * g);
    const __m512i i0 = _mm512_cvtepu8_epi32(_mm256_castsi256_si128(idx));
    const __m512i i1 = _mm512_cvtepu8_epi32(_mm256_extracti128_si256(idx, 1));
    _mm512_storeu_ps(out + 32 * g, _mm512_permutexvar_ps(i0, t));
    _mm512_storeu_ps(out + 32 * g + 16, _mm512_permutexvar_ps(i1, t));
  }
}

// The bf16 table of one block: 16 products rounded to nearest even in integer arithmetic (the
// values are finite), what c10::BFloat16 does one at a time.
__attribute__((target("avx2"))) void bf16_table_avx2(const float* code, float absmax, uint16_t* table) {
  const __m256 a = _mm256_set1_ps(absmax);
  for (int h = 0; h < 2; ++h) {
    const __m256i bits = _mm256_castps_si256(_mm256_mul_ps(_mm256_loadu_ps(code + 8 * h), a));
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7FFF))), 16);
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);  // r0..r7 in the low lane
    _mm_storeu_si128(reinterpret_cast<__m128i*>(table + 8 * h), _mm256_castsi256_si128(packed));
  }
}

// The widest kernels this CPU runs, capped by set_dequantize_simd (tests).
int simd_cap = 2;
int simd_level() {
  static const int have = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
  return std::min(have, simd_cap);
}

void lookup_groups(int level, const uint8_t* p, int64_t groups, const float* table, float* out) {
  if (level == 2) return lookup_avx512(p, groups, table, out);
  lookup_avx2(p, groups, table, out);
}

void lookup_groups(int, const uint8_t* p, int64_t groups, const uint16_t* table, uint16_t* out) {
  lookup_avx2(p, groups, table, out);
}

// Elements [e0, e1) of one block (one table): a scalar head to reach a byte boundary, groups
// of 32 vectorised, a scalar tail.
template <typename T>
void lookup_span(const uint8_t* packed, int64_t e0, int64_t e1, const T* table, T* out) {
  int64_t e = e0;
  if (const int level = simd_level(); level > 0) {
    if (e & 1) {
      lookup_scalar(packed, e, e + 1, table, out);
      ++e;
    }
    const int64_t groups = (e1 - e) / 32;
    lookup_groups(level, packed + e / 2, groups, table, out + (e - e0));
    e += 32 * groups;
  }
  lookup_scalar(packed, e, e1, table, out + (e - e0));
}

void make_table(const float* code, float absmax, float* table) {
  for (int k = 0; k < 16; ++k) table[k] = code[k] * absmax;
}

void make_table(const float* code, float absmax, uint16_t* table) {
  if (simd_level() > 0) return bf16_table_avx2(code, absmax, table);
  for (int k = 0; k < 16; ++k) table[k] = bf16_bits(code[k] * absmax);
}

// Elements [e0, e1) of the flattened weight into out (T = float or bf16 bits), blocks in parallel.
template <typename T>
void dequantize_range(const QuantizedWeight& q, int64_t e0, int64_t e1, T* out) {
  const auto* packed = q.packed.data_ptr<uint8_t>();
  const BlockScales scale(q);
  const float* code = q.quant_map.data_ptr<float>();
  const int64_t bs = q.blocksize;
  at::parallel_for(e0 / bs, (e1 + bs - 1) / bs, std::max<int64_t>(1, 16384 / bs), [&](int64_t b0, int64_t b1) {
    T table[16];
    for (int64_t b = b0; b < b1; ++b) {
      make_table(code, scale(b), table);
      const int64_t s = std::max(e0, b * bs), t = std::min(e1, (b + 1) * bs);
      lookup_span(packed, s, t, table, out + (s - e0));
    }
  });
}

// Rows [row0, row0 + rows) of the weight on CPU, bitwise what the reference gives.
torch::Tensor dequantize_rows_cpu(const QuantizedWeight& q, torch::ScalarType dtype, int64_t row0, int64_t rows) {
  const bool bf16 = dtype == torch::kBFloat16;
  auto w = torch::empty({rows, q.in}, torch::TensorOptions().dtype(bf16 ? torch::kBFloat16 : torch::kFloat32));
  const int64_t e0 = row0 * q.in, e1 = (row0 + rows) * q.in;
  if (bf16)
    dequantize_range(q, e0, e1, reinterpret_cast<uint16_t*>(w.data_ptr()));
  else
    dequantize_range(q, e0, e1, w.data_ptr<float>());
  // Any other dtype: one rounding of the float32 product, as the reference does.
  return w.scalar_type() == dtype ? w : w.to(dtype);
}

}  // namespace

int set_dequantize_simd(int level) {
  const int before = simd_cap;
  simd_cap = level;
  return before;
}

int64_t QuantizedWeight::code_bytes() const { return bytes_of(packed); }

int64_t QuantizedWeight::statistic_bytes() const {
  return bytes_of(absmax) + bytes_of(quant_map) + bytes_of(nested_codes) + bytes_of(nested_absmax) +
         bytes_of(nested_map);
}

QuantizedWeight quantize_weight(const torch::Tensor& w, const Quant4bitOptions& o) {
  RLVR_CHECK(w.dim() == 2 && w.is_floating_point(), "quantize_weight: expected a 2-D floating-point weight, got ",
             w.sizes(), " ", w.scalar_type());
  auto wf = w.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  quant::Quant4bit q4 = quant::quantize_4bit(wf.data_ptr<float>(), wf.numel(), o.type, o.blocksize);
  const torch::Device dev = w.device();
  QuantizedWeight q;
  q.type = o.type;
  q.blocksize = o.blocksize;
  q.out = w.size(0);
  q.in = w.size(1);
  q.dtype = w.scalar_type();
  q.packed = tensor_of(q4.packed, torch::kUInt8, dev);
  const auto& table = quant::code_table(o.type);
  q.quant_map = tensor_of(std::vector<float>(table.begin(), table.end()), torch::kFloat32, dev);
  if (!o.double_quant) {
    q.absmax = tensor_of(q4.absmax, torch::kFloat32, dev);
    return q;
  }
  const quant::NestedAbsmax nested = quant::double_quantize(q4.absmax);
  const auto& map = quant::dynamic_map();
  q.nested = true;
  q.nested_codes = tensor_of(nested.q.codes, torch::kUInt8, dev);
  q.nested_absmax = tensor_of(nested.q.absmax, torch::kFloat32, dev);
  q.nested_map = tensor_of(std::vector<float>(map.begin(), map.end()), torch::kFloat32, dev);
  q.offset = nested.offset;
  q.nested_blocksize = nested.q.blocksize;
  return q;  // absmax stays undefined: the kernels rebuild each block's scale from the nested fields
}

std::vector<float> block_scales(const QuantizedWeight& q) {
  check_weight(q, "block_scales");
  if (!q.nested) return vector_of<float>(q.absmax);
  quant::NestedAbsmax nested;
  nested.offset = q.offset;
  nested.q.blocksize = q.nested_blocksize;
  nested.q.codes = vector_of<uint8_t>(q.nested_codes);
  nested.q.absmax = vector_of<float>(q.nested_absmax);
  const std::vector<float> m = vector_of<float>(q.nested_map);
  std::array<float, 256> map{};
  std::copy(m.begin(), m.end(), map.begin());
  return quant::dequantize_nested(nested, map);
}

torch::Tensor dequantize_weight_reference(const QuantizedWeight& q, torch::ScalarType dtype) {
  check_weight(q, "dequantize_weight_reference");
  quant::Quant4bit q4;
  q4.type = q.type;
  q4.blocksize = q.blocksize;
  q4.n = static_cast<size_t>(q.out * q.in);
  q4.packed = vector_of<uint8_t>(q.packed);
  auto w = torch::empty({q.out, q.in}, torch::kFloat32);
  quant::dequantize_4bit(q4, block_scales(q), w.data_ptr<float>());
  return w.to(q.packed.device(), dtype);
}

torch::Tensor dequantize_weight_tensor_ops(const QuantizedWeight& q, torch::ScalarType dtype) {
  check_weight(q, "dequantize_weight");
  const int64_t n = q.out * q.in, bs = q.blocksize, blocks = (n + bs - 1) / bs;
  torch::Tensor scales = q.absmax;
  if (q.nested)  // a float product, then a float sum, as quant::dequantize_nested
    scales = q.nested_map.index({q.nested_codes.to(torch::kLong)}) *
                 q.nested_absmax.repeat_interleave(q.nested_blocksize).narrow(0, 0, blocks) +
             q.offset;
  // Two codes a byte, the high nibble first; bytes are padded out to whole blocks (bs is even).
  auto codes = torch::stack({torch::bitwise_right_shift(q.packed, 4), torch::bitwise_and(q.packed, 0x0F)}, 1);
  auto values = q.quant_map.index({codes.view({-1}).to(torch::kLong)});
  values = torch::constant_pad_nd(values, {0, blocks * bs - values.numel()});
  auto w = values.view({blocks, bs}) * scales.unsqueeze(1);
  return w.view({-1}).narrow(0, 0, n).view({q.out, q.in}).to(dtype);
}

torch::Tensor dequantize_weight(const QuantizedWeight& q, torch::ScalarType dtype) {
  if (!q.packed.device().is_cpu()) return dequantize_weight_tensor_ops(q, dtype);
  check_weight(q, "dequantize_weight");
  return dequantize_rows_cpu(q, dtype, 0, q.out);
}

namespace {

// Keeps the 4-bit weight alive from forward to backward inside the autograd context.
struct WeightHolder : torch::CustomClassHolder {
  std::shared_ptr<const QuantizedWeight> q;
};

// One dequantized copy of this layer's weight (the only scratch: freed when the call returns),
// one GEMM. Tiling over output rows for decode-sized inputs (a tile per GEMM, kept in cache) was
// measured slower on CPU: libtorch's bf16 GEMM loses more on small tiles than the cache saves.
torch::Tensor linear_forward(const torch::Tensor& x, const QuantizedWeight& q, const torch::Tensor& bias) {
  return torch::nn::functional::linear(x, dequantize_weight(q, x.scalar_type()), bias);
}

// y = x W^T + b. The context holds the codes (shared), never the dequantized W.
struct Linear4bit : public torch::autograd::Function<Linear4bit> {
  // bias: optional, as autograd takes no undefined tensor as an input.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const c10::optional<torch::Tensor>& bias,
                               const std::shared_ptr<const QuantizedWeight>& q) {
    auto holder = c10::make_intrusive<WeightHolder>();
    holder->q = q;
    ctx->saved_data["q"] = c10::IValue::make_capsule(std::move(holder));
    ctx->saved_data["bias"] = bias.has_value();
    return linear_forward(x, *q, bias.value_or(torch::Tensor()));
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto holder = ctx->saved_data["q"].toCapsule();
    const QuantizedWeight& q = *static_cast<const WeightHolder*>(holder.get())->q;
    const torch::Tensor& g = grads[0];
    torch::Tensor gx, gb;
    if (ctx->needs_input_grad(0)) gx = torch::matmul(g, dequantize_weight(q, g.scalar_type()));
    // needs_input_grad counts tensor inputs only: the bias is input 1 when it was given.
    if (ctx->saved_data["bias"].toBool() && ctx->needs_input_grad(1)) gb = g.reshape({-1, q.out}).sum(0);
    return {gx, gb, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor linear_4bit(const torch::Tensor& x, const std::shared_ptr<const QuantizedWeight>& q,
                          const torch::Tensor& bias) {
  RLVR_CHECK(q != nullptr, "linear_4bit: no 4-bit weight");
  RLVR_CHECK(x.dim() >= 1 && x.size(-1) == q->in, "linear_4bit: input ", x.sizes(), " does not fit the ",
             q->out, " x ", q->in, " weight");
  RLVR_CHECK(x.device() == q->packed.device(), "linear_4bit: input on ", x.device(), " but the 4-bit weight on ",
             q->packed.device(), "; move the model with ->to(device)");
  return Linear4bit::apply(x, bias.defined() ? c10::optional<torch::Tensor>(bias) : c10::nullopt, q);
}

}  // namespace rlvr
