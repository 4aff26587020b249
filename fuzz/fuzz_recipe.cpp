// Fuzz target: a training recipe (train/recipe.*): YAML, then `--set key=value` overrides. The
// input is the YAML, optionally followed by NUL-separated overrides; it is read both as a GRPO
// and as an SFT recipe. A bad recipe must be refused with rlvr::Error naming the key.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "rlvr/train/recipe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string all(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  for (size_t at = 0;;) {
    const size_t nul = all.find('\0', at);
    parts.push_back(all.substr(at, nul == std::string::npos ? std::string::npos : nul - at));
    if (nul == std::string::npos) break;
    at = nul + 1;
  }
  const std::string path = rlvr::fuzz::as_file(reinterpret_cast<const uint8_t*>(parts[0].data()), parts[0].size(),
                                               "recipe.yaml");
  const std::vector<std::string> sets(parts.begin() + 1, parts.end());
  std::vector<std::string> notices;
  rlvr::fuzz::refusal_ok([&] { rlvr::load_grpo_recipe(path, sets, 1, &notices); });
  rlvr::fuzz::refusal_ok([&] { rlvr::load_sft_recipe(path, sets, 2, &notices); });
  return 0;
}
