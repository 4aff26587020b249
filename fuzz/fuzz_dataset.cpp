// Fuzz target: dataset files (data/dataset.*): GSM8K and prompt/answer JSONL lines, as `rlvr
// train` and `rlvr eval` read them. The first byte picks the format and whether malformed lines
// are skipped; a bad file must be refused with rlvr::Error.
#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"
#include "rlvr/data/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  rlvr::DataOptions o;
  o.format = data[0] % 3 == 0 ? rlvr::DataFormat::kAuto
                              : (data[0] % 3 == 1 ? rlvr::DataFormat::kGsm8k : rlvr::DataFormat::kJsonl);
  o.skip_malformed = (data[0] & 4) != 0;
  if (data[0] & 8) o.solution_field = "solution";
  const std::string path = rlvr::fuzz::as_file(data + 1, size - 1, "data.jsonl");
  rlvr::fuzz::refusal_ok([&] { rlvr::load_problems(path, o); });
  return 0;
}
