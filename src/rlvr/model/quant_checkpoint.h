// 4-bit weights in the checkpoint layout transformers + bitsandbytes save (Linear4bit's
// _save_to_state_dict with QuantState.as_dict(packed=True)); every key and its source is in
// docs/quantization.md, "Checkpoint layout".
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rlvr/io/safetensors.h"
#include "rlvr/model/config.h"
#include "rlvr/model/quant_linear.h"

namespace rlvr {

// The tensors saved for the 4-bit weight `name` (".../q_proj.weight"): `name` (packed uint8,
// ((n + 1) / 2, 1)), name.absmax, name.quant_map, with double quantization name.nested_absmax and
// name.nested_quant_map, and name.quant_state.bitsandbytes__<nf4|fp4> (the JSON of the other
// fields as uint8 bytes). CPU tensors.
std::vector<std::pair<std::string, torch::Tensor>> bnb_tensors(const std::string& name, const QuantizedWeight& q);

// quantization_config for a model whose 4-bit weights are `q` (one quant type and nesting for all;
// an rlvr::Error otherwise); compute dtype: the model dtype.
BnbQuantization bnb_quantization(
    const std::vector<std::pair<std::string, std::shared_ptr<const QuantizedWeight>>>& q, torch::Dtype dtype);

// The (out, in) shape of weight `name`: its quant state's "shape" when the checkpoint holds it in
// 4 bits, else the tensor's shape.
std::vector<int64_t> stored_weight_shape(const Checkpoint& ckpt, const std::string& name);

// The 4-bit weight `name` of a bitsandbytes checkpoint, or nullopt when the checkpoint holds it
// unquantized (a module transformers kept in the model dtype). Every tensor and quant-state field
// is checked against `out` x `in` and `cfg` (one error line naming the checkpoint, the tensor and
// the field); the absmax is reconstructed with the stored nested_quant_map. CPU tensors.
std::optional<QuantizedWeight> read_bnb_weight(const Checkpoint& ckpt, const std::string& name, int64_t out,
                                               int64_t in, const BnbQuantization& cfg);

}  // namespace rlvr
