// Fuzz target: a .safetensors file (io/safetensors.*): the 8-byte header length, the JSON header
// (dtypes, shapes, offsets, __metadata__), and every tensor view into the data section, which
// must stay inside the file. A malformed file must be refused with rlvr::Error.
#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"
#include "rlvr/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = rlvr::fuzz::as_file(data, size, "model.safetensors");
  rlvr::fuzz::refusal_ok([&] {
    const auto f = rlvr::SafetensorsFile::open(path);
    for (const auto& e : f.entries()) {
      const torch::Tensor t = f.get(e.name);
      if (t.numel() > 0) t.to(torch::kFloat64).sum().item<double>();  // reads every byte of the view
    }
  });
  return 0;
}
