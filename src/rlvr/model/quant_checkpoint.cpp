// The bitsandbytes 4-bit checkpoint layout: writing a QuantizedWeight as Linear4bit saves it and
// reading one back with every field checked (docs/quantization.md, "Checkpoint layout").
#include "rlvr/model/quant_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <type_traits>

#include "rlvr/core/error.h"
#include "rlvr/model/qwen2.h"

namespace rlvr {

namespace {
using nlohmann::json;

const std::string kStateInfix = ".quant_state.bitsandbytes__";

// The non-tensor fields of QuantState.as_dict, packed as one uint8 tensor of JSON bytes.
struct BnbState {
  quant::QuantType type = quant::QuantType::nf4;
  int blocksize = 64;
  torch::ScalarType dtype = torch::kBFloat16;
  std::vector<int64_t> shape;
  bool nested = false;
  int nested_blocksize = 256;
  float offset = 0.0f;
};

// The JSON text json.dumps writes for as_dict's non-tensor items, in its key order and with its
// default separators (", " and ": ").
std::string state_json(const QuantizedWeight& q) {
  std::string s = std::string("{\"quant_type\": \"") + quant::quant_type_name(q.type) +
                  "\", \"blocksize\": " + std::to_string(q.blocksize) + ", \"dtype\": \"" +
                  dtype_name(q.dtype) + "\", \"shape\": [" + std::to_string(q.out) + ", " +
                  std::to_string(q.in) + "]";
  if (q.nested)
    s += ", \"nested_blocksize\": " + std::to_string(q.nested_blocksize) +
         ", \"nested_dtype\": \"float32\", \"nested_offset\": " + json(static_cast<double>(q.offset)).dump();
  return s + "}";
}

std::string tensor_where(const Checkpoint& ckpt, const std::string& tensor) {
  return ckpt.path() + ": tensor '" + tensor + "'";
}

// The quant-state tensor's name for weight `name`, "" when the checkpoint holds none.
std::string state_name(const Checkpoint& ckpt, const std::string& name) {
  const std::string nf4 = name + kStateInfix + "nf4", fp4 = name + kStateInfix + "fp4";
  RLVR_CHECK(!(ckpt.has(nf4) && ckpt.has(fp4)), tensor_where(ckpt, name),
             " has two quant states (bitsandbytes__nf4 and bitsandbytes__fp4); a weight has one");
  return ckpt.has(nf4) ? nf4 : ckpt.has(fp4) ? fp4 : "";
}

// Whether JSON value v holds a T: a string, a whole number, a number, or a list of whole numbers.
template <typename T>
bool json_holds(const json& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    return v.is_string();
  } else if constexpr (std::is_integral_v<T>) {
    return v.is_number_integer();
  } else if constexpr (std::is_floating_point_v<T>) {
    return v.is_number();
  } else {
    return v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_number_integer(); });
  }
}

// `key` of the quant-state JSON, present and holding a T, else one line.
template <typename T>
T state_field(const json& j, const char* key, const std::string& where) {
  RLVR_CHECK(j.contains(key), where, " lacks \"", key, "\"; the checkpoint is incomplete or not bitsandbytes'");
  const json& v = j.at(key);
  RLVR_CHECK(json_holds<T>(v), where, ": \"", key, "\" has the wrong type (", v.dump(), ")");
  return v.get<T>();
}

bool power_of_two_in(int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi && (v & (v - 1)) == 0; }

// The JSON bytes of quant-state tensor `key`, parsed; every key is one from_dict knows.
json read_state_json(const Checkpoint& ckpt, const std::string& key) {
  const std::string where = tensor_where(ckpt, key);
  torch::Tensor t = ckpt.get(key);
  RLVR_CHECK(t.scalar_type() == torch::kUInt8 && t.dim() == 1, where, " must be a 1-D uint8 tensor of JSON bytes, got ",
             t.scalar_type(), " ", t.sizes());
  const std::string text(reinterpret_cast<const char*>(t.data_ptr<uint8_t>()), static_cast<size_t>(t.numel()));
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(where, " does not hold JSON (", e.what(), ")");
  }
  RLVR_CHECK(j.is_object(), where, " must hold a JSON object");
  static const std::set<std::string> known = {"quant_type", "blocksize", "dtype", "shape", "nested_blocksize",
                                              "nested_dtype", "nested_offset"};
  for (const auto& item : j.items())
    RLVR_CHECK(known.count(item.key()), where, ": unknown quant-state field \"", item.key(), "\"");
  return j;
}

// The quant-state fields of weight tensor `key` (".../q_proj.weight.quant_state.bitsandbytes__nf4").
BnbState parse_state(const Checkpoint& ckpt, const std::string& key) {
  const std::string where = tensor_where(ckpt, key);
  const json j = read_state_json(ckpt, key);
  BnbState s;
  const auto type = state_field<std::string>(j, "quant_type", where);
  RLVR_CHECK(key.size() > type.size() && key.compare(key.size() - type.size(), type.size(), type) == 0 &&
                 (type == "nf4" || type == "fp4"),
             where, ": quant_type \"", type, "\" does not match the tensor's name");
  s.type = quant::parse_quant_type(type);
  const auto blocksize = state_field<int64_t>(j, "blocksize", where);
  RLVR_CHECK(power_of_two_in(blocksize, 32, 4096), where, ": blocksize ", blocksize,
             " is not a power of two in [32, 4096]");
  s.blocksize = static_cast<int>(blocksize);
  const auto dtype = state_field<std::string>(j, "dtype", where);
  RLVR_CHECK(dtype == "float32" || dtype == "bfloat16" || dtype == "float16" || dtype == "float64", where,
             ": dtype \"", dtype, "\" is not a floating-point dtype");
  s.dtype = parse_dtype(dtype);
  s.shape = state_field<std::vector<int64_t>>(j, "shape", where);
  s.nested = j.contains("nested_offset") || j.contains("nested_blocksize") || j.contains("nested_dtype");
  if (!s.nested) return s;
  const auto nbs = state_field<int64_t>(j, "nested_blocksize", where);
  RLVR_CHECK(power_of_two_in(nbs, 64, 4096), where, ": nested_blocksize ", nbs, " is not a power of two in [64, 4096]");
  s.nested_blocksize = static_cast<int>(nbs);
  RLVR_CHECK(state_field<std::string>(j, "nested_dtype", where) == "float32", where,
             ": nested_dtype must be \"float32\" (bitsandbytes' absmax dtype)");
  const double offset = state_field<double>(j, "nested_offset", where);
  RLVR_CHECK(std::isfinite(offset), where, ": nested_offset ", offset, " is not finite");
  s.offset = static_cast<float>(offset);
  return s;
}

// Tensor `name` of the checkpoint with the dtype and shape the quant state implies.
torch::Tensor need_tensor(const Checkpoint& ckpt, const std::string& name, torch::ScalarType dtype,
                          at::IntArrayRef shape) {
  RLVR_CHECK(ckpt.has(name), ckpt.path(), ": missing tensor '", name,
             "' of a 4-bit weight; the checkpoint is incomplete (re-save it, or rlvr quantize the unquantized model)");
  torch::Tensor t = ckpt.get(name);
  RLVR_CHECK(t.scalar_type() == dtype, tensor_where(ckpt, name), " has dtype ", t.scalar_type(), " but ", dtype,
             " is expected");
  RLVR_CHECK(t.sizes() == shape, tensor_where(ckpt, name), " has shape ", t.sizes(), " but the quant state implies ",
             shape);
  return t;
}

// Finite and >= 0, as every absmax is.
void check_scales(const Checkpoint& ckpt, const std::string& name, const torch::Tensor& t) {
  RLVR_CHECK(torch::isfinite(t).all().item<bool>() && (t >= 0).all().item<bool>(), tensor_where(ckpt, name),
             " holds a negative or non-finite value; an absmax is finite and >= 0");
}

torch::Tensor code_table_tensor(quant::QuantType type) {
  const auto& table = quant::code_table(type);
  return torch::from_blob(const_cast<float*>(table.data()), {16}, torch::kFloat32).clone();
}

// The stored quant_map must equal the table of its quant type as values (bitsandbytes writes +0 for
// FP4 code 8, rlvr's table has -0); rlvr, like bitsandbytes' kernels, dequantizes with the
// built-in table (docs/quantization.md).
void check_quant_map(const Checkpoint& ckpt, const std::string& name, const BnbState& s) {
  const torch::Tensor map = need_tensor(ckpt, name, torch::kFloat32, {16}).contiguous();
  const auto& table = quant::code_table(s.type);
  const float* stored = map.data_ptr<float>();
  for (size_t i = 0; i < table.size(); ++i)
    RLVR_CHECK(stored[i] == table[i], tensor_where(ckpt, name), "[", i, "] is ",
               stored[i], " but the ", quant::quant_type_name(s.type), " code table has ", table[i],
               "; bitsandbytes dequantizes with its built-in table, so this checkpoint was not written by it");
}
}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> bnb_tensors(const std::string& name, const QuantizedWeight& q) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.emplace_back(name, q.packed.cpu().reshape({-1, 1}));
  out.emplace_back(name + ".absmax", (q.nested ? q.nested_codes : q.absmax).cpu());
  out.emplace_back(name + ".quant_map", q.quant_map.cpu());
  if (q.nested) {
    out.emplace_back(name + ".nested_absmax", q.nested_absmax.cpu());
    out.emplace_back(name + ".nested_quant_map", q.nested_map.cpu());
  }
  const std::string text = state_json(q);
  torch::Tensor bytes = torch::empty({static_cast<int64_t>(text.size())}, torch::kUInt8);
  std::memcpy(bytes.data_ptr<uint8_t>(), text.data(), text.size());
  out.emplace_back(name + kStateInfix + quant::quant_type_name(q.type), bytes);
  return out;
}

BnbQuantization bnb_quantization(
    const std::vector<std::pair<std::string, std::shared_ptr<const QuantizedWeight>>>& q, torch::Dtype dtype) {
  RLVR_CHECK(!q.empty(), "the model has no 4-bit weights to describe in quantization_config");
  BnbQuantization b;
  b.quant_type = q.front().second->type;
  b.double_quant = q.front().second->nested;
  b.compute_dtype = dtype_name(dtype);
  for (const auto& [name, w] : q)
    RLVR_CHECK(w->type == b.quant_type && w->nested == b.double_quant, name,
               ": 4-bit weights of one model differ in quant type or double quantization; "
               "quantization_config can describe only one");
  return b;
}

std::vector<int64_t> stored_weight_shape(const Checkpoint& ckpt, const std::string& name) {
  const std::string key = state_name(ckpt, name);
  return key.empty() ? ckpt.get(name).sizes().vec() : parse_state(ckpt, key).shape;
}

std::optional<QuantizedWeight> read_bnb_weight(const Checkpoint& ckpt, const std::string& name, int64_t out,
                                               int64_t in, const BnbQuantization& cfg) {
  const std::string key = state_name(ckpt, name);
  if (key.empty()) return std::nullopt;
  const BnbState s = parse_state(ckpt, key);
  const std::string where = tensor_where(ckpt, key);
  RLVR_CHECK(s.shape == std::vector<int64_t>({out, in}), where, ": shape ", json(s.shape).dump(),
             " but config.json implies [", out, ", ", in, "]");
  RLVR_CHECK(s.type == cfg.quant_type, where, ": quant_type ", quant::quant_type_name(s.type),
             " but config.json's bnb_4bit_quant_type is ", quant::quant_type_name(cfg.quant_type));
  RLVR_CHECK(s.nested == cfg.double_quant, where, (s.nested ? " has" : " lacks"),
             " nested fields but config.json's bnb_4bit_use_double_quant is ", cfg.double_quant ? "true" : "false");
  const int64_t n = out * in, blocks = (n + s.blocksize - 1) / s.blocksize;
  QuantizedWeight q;
  q.type = s.type, q.blocksize = s.blocksize, q.out = out, q.in = in, q.dtype = s.dtype;
  q.packed = need_tensor(ckpt, name, torch::kUInt8, {(n + 1) / 2, 1}).reshape({-1}).clone();
  check_quant_map(ckpt, name + ".quant_map", s);
  q.quant_map = code_table_tensor(s.type);
  const std::string absmax = name + ".absmax";
  if (!s.nested) {
    q.absmax = need_tensor(ckpt, absmax, torch::kFloat32, {blocks}).clone();
    check_scales(ckpt, absmax, q.absmax);
    return q;
  }
  q.nested = true, q.nested_blocksize = s.nested_blocksize, q.offset = s.offset;
  q.nested_codes = need_tensor(ckpt, absmax, torch::kUInt8, {blocks}).clone();
  const int64_t nested_blocks = (blocks + s.nested_blocksize - 1) / s.nested_blocksize;
  q.nested_absmax = need_tensor(ckpt, name + ".nested_absmax", torch::kFloat32, {nested_blocks}).clone();
  check_scales(ckpt, name + ".nested_absmax", q.nested_absmax);
  q.nested_map = need_tensor(ckpt, name + ".nested_quant_map", torch::kFloat32, {256}).clone();
  RLVR_CHECK(torch::isfinite(q.nested_map).all().item<bool>(), tensor_where(ckpt, name + ".nested_quant_map"),
             " holds a non-finite value");
  return q;  // the kernels rebuild the scales from the nested fields with this stored map
}

}  // namespace rlvr
