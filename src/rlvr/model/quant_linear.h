// 4-bit base weights for QLoRA: a decoder Linear weight held as bitsandbytes-layout codes and
// statistics (rlvr/quant, docs/quantization.md), dequantized one layer at a time in the forward.
// The codes are never parameters: gradients reach the inputs and the LoRA adapters only.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "rlvr/quant/quant.h"

namespace rlvr {

// How to quantize the decoder Linear weights at load (recipe load_in_4bit, bnb_4bit_quant_type,
// use_bnb_nested_quant; CLI --load-in-4bit). Embeddings, lm_head, norms and biases stay in the
// model dtype, as transformers does.
struct Quant4bitOptions {
  bool enabled = false;
  quant::QuantType type = quant::QuantType::nf4;
  bool double_quant = true;  // bnb_4bit_use_double_quant (the QLoRA paper's setting)
  int blocksize = 64;
};

// One Linear weight (out, in) in 4-bit: what a transformers + bitsandbytes checkpoint stores for
// it. All tensors live on the model's device.
struct QuantizedWeight {
  quant::QuantType type = quant::QuantType::nf4;
  int blocksize = 64;
  int64_t out = 0, in = 0;         // the weight's shape
  torch::ScalarType dtype = torch::kBFloat16;  // the dtype it was quantized from (quant_state "dtype")
  torch::Tensor packed;            // uint8 (ceil(out * in / 2)): two codes a byte, high nibble first
  torch::Tensor quant_map;         // float32 (16): the code values (the checkpoint's quant_map)
  // The per-block scales, float32 (ceil(out * in / blocksize)), without double quantization.
  // With it (nested == true) absmax is left undefined: the kernels rebuild each block's scale
  // from the nested fields below, so memory holds only the 8-bit codes (block_scales gives them).
  torch::Tensor absmax;
  // Double quantization (nested == true): the checkpoint's `absmax` is nested_codes.
  bool nested = false;
  torch::Tensor nested_codes;      // uint8 (blocks)
  torch::Tensor nested_absmax;     // float32 (ceil(blocks / 256))
  torch::Tensor nested_map;        // float32 (256): the map the codes index (nested_quant_map)
  float offset = 0.0f;             // the mean subtracted before nesting (nested_offset)
  int nested_blocksize = 256;

  // Bytes held: the codes, and the statistics (absmax, nested fields, maps).
  int64_t code_bytes() const;
  int64_t statistic_bytes() const;
};

// The per-block scales on the CPU: absmax, or the reconstruction of the nested fields with the
// stored map (quant::dequantize_nested), as the dequantization uses them.
std::vector<float> block_scales(const QuantizedWeight& q);

// Quantizes a (out, in) floating-point weight (any device; read as float32) as bitsandbytes does.
QuantizedWeight quantize_weight(const torch::Tensor& w, const Quant4bitOptions& o);
// The weight (out, in) in `dtype` on the codes' device: code value * absmax in float32, then
// rounded to dtype. Fast path (vectorised table lookups on CPU, tensor ops elsewhere) ...
torch::Tensor dequantize_weight(const QuantizedWeight& q, torch::ScalarType dtype);
// ... and the slow reference it is tested against (rlvr::quant::dequantize_4bit, CPU).
torch::Tensor dequantize_weight_reference(const QuantizedWeight& q, torch::ScalarType dtype);
// The tensor-op path dequantize_weight takes off the CPU (any device; tested on CPU).
torch::Tensor dequantize_weight_tensor_ops(const QuantizedWeight& q, torch::ScalarType dtype);
// Caps the CPU kernels dequantize_weight picks at run time (2: AVX-512 for float32 output, AVX2
// for bf16; 1: AVX2; 0: scalar; the CPU's own support still applies), so tests check each against the reference. Returns the cap
// it replaces. Not thread-safe: call it while nothing dequantizes.
int set_dequantize_simd(int level);

// y = x W^T + b with W dequantized to x's dtype for this call only. Backward recomputes W (it is
// never saved between forward and backward) and returns gradients for x and the bias only.
torch::Tensor linear_4bit(const torch::Tensor& x, const std::shared_ptr<const QuantizedWeight>& q,
                          const torch::Tensor& bias);

}  // namespace rlvr
