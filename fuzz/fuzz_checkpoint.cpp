// Fuzz target: a sharded checkpoint's model.safetensors.index.json (io/safetensors.*,
// Checkpoint::open) over two valid shards: the weight map may name missing files, escape the
// folder, repeat or disagree with the shards. A malformed index must be refused with rlvr::Error.
#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"
#include "rlvr/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    const std::string d = rlvr::fuzz::scratch_subdir("ckpt");
    rlvr::save_safetensors(d + "/model-00001-of-00002.safetensors", {{"a.weight", torch::ones({2, 3})}});
    rlvr::save_safetensors(d + "/model-00002-of-00002.safetensors", {{"b.weight", torch::zeros({4})}});
    return d;
  }();
  rlvr::fuzz::as_file(data, size, "ckpt/model.safetensors.index.json");
  rlvr::fuzz::refusal_ok([&] {
    const auto ck = rlvr::Checkpoint::open(dir);
    for (const auto& name : ck.names()) ck.get(name).sum().item<double>();
  });
  return 0;
}
