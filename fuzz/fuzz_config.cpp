// Fuzz target: a model's config.json (model/config.*, ModelConfig::load): types, counts, sizes,
// rope settings, EOS ids. A bad file must be refused with rlvr::Error naming config.json and the
// key; a loaded config must be usable (its parameter count computable).
#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"
#include "rlvr/model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = rlvr::fuzz::scratch_subdir("model");
  rlvr::fuzz::as_file(data, size, "model/config.json");
  rlvr::fuzz::refusal_ok([&] { rlvr::ModelConfig::load(dir).num_parameters(); });
  return 0;
}
