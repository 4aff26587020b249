// Fuzz target: the code reward's text rules (rewards/code_text.h), program extraction from
// fenced blocks and line-wise output comparison, on arbitrary completions. They take any text:
// no input may throw, and an extracted program is a part of the input (or the whole of it).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "rlvr/rewards/code_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> tags = {"python", "py", "cpp"};
  for (bool require_fence : {true, false}) {
    const auto program = rlvr::extract_program(text, tags, require_fence);
    if (program && text.find(*program) == std::string::npos) std::abort();
    if (program && program->find_first_not_of(" \t\r\n") == std::string::npos) std::abort();
  }
  const std::string half = text.substr(0, text.size() / 2);
  if (!rlvr::outputs_match(text, text)) std::abort();
  rlvr::outputs_match(half, text.substr(half.size()));
  return 0;
}
