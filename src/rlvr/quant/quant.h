// Blockwise 4-bit (NF4 / FP4) quantization with double quantization of the block statistics,
// following bitsandbytes' CUDA kernels rounding for rounding (the QLoRA reference implementation,
// arXiv 2305.14314). Torch-free: plain float arrays in, codes and statistics out. Every rule, its
// source, and the two places where the last bit can differ from a given bitsandbytes install (the
// dynamic map, the mean offset) are in docs/quantization.md.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rlvr::quant {

enum class QuantType { nf4, fp4 };

// "nf4" / "fp4" (bitsandbytes' quant_type names); anything else throws rlvr::Error.
QuantType parse_quant_type(const std::string& name);
const char* quant_type_name(QuantType type);

// The 16 values of a 4-bit code, indexed by the nibble (bitsandbytes' quant_map).
const std::array<float, 16>& code_table(QuantType type);
// The 15 decision thresholds of the NF4 code (the kernel's midpoints of neighbouring code
// values). A scaled value above threshold k gets a code above k; one on it gets code k.
const std::array<float, 15>& nf4_thresholds();
// The nibble of one value already scaled by 1/absmax (the kernels' decision trees; NaN -> 0).
uint8_t encode_4bit(float scaled, QuantType type);

// bitsandbytes' signed dynamic 8-bit map (create_dynamic_map(signed=True)), 256 values ascending.
const std::array<float, 256>& dynamic_map();
// The 8-bit code of one scaled value in an ascending 256-value map (the kernels' dQuantize).
uint8_t encode_8bit(float scaled, const std::array<float, 256>& map);

float bf16_to_float(uint16_t bits);

// A tensor of n values in 4-bit codes: two codes a byte, the first element in the high nibble,
// ceil(n / 2) bytes; one absmax per block of `blocksize` values (the last block may be partial).
struct Quant4bit {
  QuantType type = QuantType::nf4;
  int blocksize = 64;
  size_t n = 0;
  std::vector<uint8_t> packed;
  std::vector<float> absmax;
};

// blocksize: a power of two in [32, 4096] (bitsandbytes' choices); 64 is the QLoRA default.
Quant4bit quantize_4bit(const float* w, size_t n, QuantType type = QuantType::nf4, int blocksize = 64);
// Writes q.n floats: code value * its block's absmax.
void dequantize_4bit(const Quant4bit& q, const std::vector<float>& absmax, float* out);
inline void dequantize_4bit(const Quant4bit& q, float* out) { dequantize_4bit(q, q.absmax, out); }

// 8-bit blockwise quantization with the signed dynamic map (bitsandbytes' quantize_blockwise).
struct Quant8bit {
  int blocksize = 256;
  std::vector<uint8_t> codes;   // one a value
  std::vector<float> absmax;    // one a block
};
Quant8bit quantize_blockwise_8bit(const float* x, size_t n, int blocksize = 256);
// map: the code the values were quantized with (a checkpoint's nested_quant_map).
std::vector<float> dequantize_blockwise_8bit(const Quant8bit& q,
                                             const std::array<float, 256>& map = dynamic_map());

// Double quantization of a 4-bit tensor's absmax vector (bnb_4bit_use_double_quant): subtract
// the mean, then 8-bit blockwise with blocksize 256 and the dynamic map.
struct NestedAbsmax {
  float offset = 0.0f;  // the mean of the absmax values
  Quant8bit q;          // q.codes: the absmax tensor of the checkpoint; q.absmax: nested_absmax
};
NestedAbsmax double_quantize(const std::vector<float>& absmax);
// The absmax values the 4-bit dequantization uses: code * nested absmax + offset.
std::vector<float> dequantize_nested(const NestedAbsmax& nested,
                                     const std::array<float, 256>& map = dynamic_map());

}  // namespace rlvr::quant
