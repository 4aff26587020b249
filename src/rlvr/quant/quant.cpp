#include "rlvr/quant/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "rlvr/core/error.h"

namespace rlvr::quant {
namespace {

// NF4 (QLoRA section 3; bitsandbytes' get_4bit_type("nf4") and the kernels' nf4 lookup table):
// quantiles of N(0, 1) normalised to [-1, 1], with an exact zero and one more positive value.
constexpr std::array<float, 16> kNf4 = {
    -1.0f,        -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

// FP4 (get_4bit_type("fp4")): sign bit 3, the low 3 bits index these magnitudes (E2M1 values
// 0, 0.0625, 8, 12, 4, 6, 2, 3 divided by their maximum 12).
std::array<float, 16> make_fp4() {
  const float raw[8] = {0.0f, 0.0625f, 8.0f, 12.0f, 4.0f, 6.0f, 2.0f, 3.0f};
  std::array<float, 16> t{};
  for (int i = 0; i < 8; ++i) {
    t[i] = raw[i] / 12.0f;
    t[i + 8] = -t[i];
  }
  return t;
}

// The NF4 thresholds as the decimals written in the kernel's dQuantizeNF4: the midpoints of
// neighbouring code values. Rounded to float, 4 of them are one ulp away from the float-rounded
// exact midpoints, so they are kept as written.
constexpr std::array<float, 15> kNf4Thresholds = {
    -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
    -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
    0.1202552504837513f,  0.2035212516784668f,  0.2920137718319893f,  0.3893125355243683f,
    0.5016634166240692f,  0.6427869200706482f,  0.8614784181118011f};

// The FP4 magnitudes in ascending order (as 3-bit codes) and the thresholds between them,
// as the decimals written in the kernel's dQuantizeFP4 (0.583333 is not the exact midpoint
// 0.5833333, so these are kept as written, not recomputed).
constexpr uint8_t kFp4Ascending[8] = {0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011};
constexpr float kFp4Thresholds[7] = {0.00260417f, 0.0859375f, 0.20833333f, 0.29166667f,
                                     0.4166667f,  0.583333f,  0.8333333f};

// torch.linspace(start, end, steps) in float32 as current PyTorch's serial CPU kernel computes it
// (RangeFactoriesKernel.cpp): a float step; the first half counts up from start, the second half
// down from end. (libtorch 1.13's vectorised kernel rounds some values one ulp apart.)
std::vector<float> linspace_f32(float start, float end, int steps) {
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int halfway = steps / 2;
  std::vector<float> v(steps);
  for (int i = 0; i < steps; ++i)
    v[i] = i < halfway ? start + step * static_cast<float>(i)
                       : end - step * static_cast<float>(steps - i - 1);
  return v;
}

// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): for each decade
// 10^-6 .. 10^0, 2^i values (the midpoints of linspace(0.1, 1, 2^i + 1)) times the decade, with
// both signs; then 0 and 1; 256 values sorted.
std::array<float, 256> make_dynamic_map() {
  std::vector<float> data;
  for (int i = 0; i < 7; ++i) {
    const std::vector<float> b = linspace_f32(0.1f, 1.0f, (1 << i) + 1);
    const float decade = static_cast<float>(std::pow(10.0, i - 6));
    for (size_t k = 0; k + 1 < b.size(); ++k) data.push_back(decade * ((b[k] + b[k + 1]) / 2.0f));
    for (size_t k = 0; k + 1 < b.size(); ++k) data.push_back(-decade * ((b[k] + b[k + 1]) / 2.0f));
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  std::array<float, 256> map{};
  std::copy(data.begin(), data.end(), map.begin());
  return map;
}

void check_blocksize(int blocksize, const char* what) {
  RLVR_CHECK(blocksize >= 32 && blocksize <= 4096 && (blocksize & (blocksize - 1)) == 0, what,
             ": blocksize ", blocksize, " is not a power of two in [32, 4096]; use 64 (QLoRA)");
}

// Largest |x| over a block (0 for an empty or all-zero block); non-finite values are refused.
float block_absmax(const float* x, size_t count, size_t first_index) {
  float m = 0.0f;
  for (size_t i = 0; i < count; ++i) {
    RLVR_CHECK(std::isfinite(x[i]), "quantize: value ", first_index + i, " is ", x[i],
               "; only finite weights can be quantized (check the checkpoint)");
    m = std::fmax(m, std::fabs(x[i]));
  }
  return m;
}

size_t block_count(size_t n, int blocksize) { return (n + blocksize - 1) / blocksize; }

}  // namespace

QuantType parse_quant_type(const std::string& name) {
  if (name == "nf4") return QuantType::nf4;
  if (name == "fp4") return QuantType::fp4;
  fail("bnb_4bit_quant_type '", name, "' is unknown; use nf4 or fp4");
}

const char* quant_type_name(QuantType type) { return type == QuantType::nf4 ? "nf4" : "fp4"; }

const std::array<float, 16>& code_table(QuantType type) {
  static const std::array<float, 16> fp4 = make_fp4();
  return type == QuantType::nf4 ? kNf4 : fp4;
}

const std::array<float, 15>& nf4_thresholds() { return kNf4Thresholds; }

// Counting the thresholds a value exceeds (strict >) is the kernels' decision tree: a value on a
// midpoint takes the lower code, and NaN (0 * inf from an all-zero block) exceeds none.
uint8_t encode_4bit(float scaled, QuantType type) {
  if (type == QuantType::nf4) {
    uint8_t code = 0;
    for (float t : nf4_thresholds()) code += scaled > t ? 1 : 0;
    return code;
  }
  const uint8_t sign = scaled < 0.0f ? 0b1000 : 0;
  const float mag = std::fabs(scaled);
  int rank = 0;
  for (float t : kFp4Thresholds) rank += mag > t ? 1 : 0;
  return sign | kFp4Ascending[rank];
}

const std::array<float, 256>& dynamic_map() {
  static const std::array<float, 256> map = make_dynamic_map();
  return map;
}

// The kernels' dQuantize (round to nearest): seven halving steps from index 127 leave a pivot
// between the last compared index below the value and the last one at or above it; the value
// goes to the pivot unless it lies beyond the float midpoint (a + b) * 0.5f towards a bracket
// end. A value on a midpoint takes the pivot; NaN walks down to index 0.
uint8_t encode_8bit(float scaled, const std::array<float, 256>& map) {
  int pivot = 127, below = 0, above = 255;
  for (int half = 64; half > 0; half /= 2) {
    if (scaled > map[pivot]) {
      below = pivot;
      pivot += half;
    } else {
      above = pivot;
      pivot -= half;
    }
  }
  const float at = map[pivot];
  if (scaled > at) return static_cast<uint8_t>(scaled > (map[above] + at) * 0.5f ? above : pivot);
  return static_cast<uint8_t>(scaled < (map[below] + at) * 0.5f ? below : pivot);
}

float bf16_to_float(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof f);
  return f;
}

// bitsandbytes' kQuantizeBlockwise for 4 bits: per block, absmax = max |x|, scale = 1 / absmax
// (float), code of x * scale; element 2j in the high nibble of byte j, 2j + 1 in the low one; an
// odd n pads the last byte's low nibble with the code of 0.
Quant4bit quantize_4bit(const float* w, size_t n, QuantType type, int blocksize) {
  check_blocksize(blocksize, "quantize_4bit");
  Quant4bit q;
  q.type = type;
  q.blocksize = blocksize;
  q.n = n;
  q.packed.assign((n + 1) / 2, 0);
  q.absmax.resize(block_count(n, blocksize));
  for (size_t b = 0; b < q.absmax.size(); ++b) {
    const size_t first = b * blocksize, count = std::min<size_t>(blocksize, n - first);
    q.absmax[b] = block_absmax(w + first, count, first);
    const float scale = 1.0f / q.absmax[b];
    for (size_t i = first; i < first + count + (count & 1); ++i) {
      const float x = i < n ? w[i] : 0.0f;
      const uint8_t code = encode_4bit(x * scale, type);
      q.packed[i / 2] |= (i % 2 == 0) ? static_cast<uint8_t>(code << 4) : code;
    }
  }
  return q;
}

void dequantize_4bit(const Quant4bit& q, const std::vector<float>& absmax, float* out) {
  RLVR_CHECK(absmax.size() == block_count(q.n, q.blocksize) && q.packed.size() == (q.n + 1) / 2,
             "dequantize_4bit: ", absmax.size(), " absmax values and ", q.packed.size(),
             " bytes do not fit ", q.n, " values in blocks of ", q.blocksize);
  const std::array<float, 16>& table = code_table(q.type);
  for (size_t i = 0; i < q.n; ++i) {
    const uint8_t byte = q.packed[i / 2];
    const uint8_t code = (i % 2 == 0) ? (byte >> 4) : (byte & 0x0F);
    out[i] = table[code] * absmax[i / q.blocksize];
  }
}

Quant8bit quantize_blockwise_8bit(const float* x, size_t n, int blocksize) {
  check_blocksize(blocksize, "quantize_blockwise_8bit");
  Quant8bit q;
  q.blocksize = blocksize;
  q.codes.resize(n);
  q.absmax.resize(block_count(n, blocksize));
  const std::array<float, 256>& map = dynamic_map();
  for (size_t b = 0; b < q.absmax.size(); ++b) {
    const size_t first = b * blocksize, count = std::min<size_t>(blocksize, n - first);
    q.absmax[b] = block_absmax(x + first, count, first);
    const float scale = 1.0f / q.absmax[b];
    for (size_t i = first; i < first + count; ++i) q.codes[i] = encode_8bit(x[i] * scale, map);
  }
  return q;
}

std::vector<float> dequantize_blockwise_8bit(const Quant8bit& q, const std::array<float, 256>& map) {
  RLVR_CHECK(q.absmax.size() == block_count(q.codes.size(), q.blocksize), "dequantize_blockwise_8bit: ",
             q.absmax.size(), " absmax values do not fit ", q.codes.size(), " codes in blocks of ",
             q.blocksize);
  std::vector<float> out(q.codes.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = map[q.codes[i]] * q.absmax[i / q.blocksize];
  return out;
}

// bitsandbytes' quantize_4bit(compress_statistics=True): offset = absmax.mean() (here summed in
// double and rounded to float once), then quantize_blockwise(absmax - offset, blocksize=256).
NestedAbsmax double_quantize(const std::vector<float>& absmax) {
  NestedAbsmax nested;
  double sum = 0.0;
  for (float a : absmax) sum += a;
  nested.offset = absmax.empty() ? 0.0f : static_cast<float>(sum / static_cast<double>(absmax.size()));
  std::vector<float> centered(absmax.size());
  for (size_t i = 0; i < absmax.size(); ++i) centered[i] = absmax[i] - nested.offset;
  nested.q = quantize_blockwise_8bit(centered.data(), centered.size(), 256);
  return nested;
}

std::vector<float> dequantize_nested(const NestedAbsmax& nested, const std::array<float, 256>& map) {
  std::vector<float> absmax = dequantize_blockwise_8bit(nested.q, map);
  for (float& a : absmax) a += nested.offset;
  return absmax;
}

}  // namespace rlvr::quant
