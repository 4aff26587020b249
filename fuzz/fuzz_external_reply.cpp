// Fuzz target: the reply lines of an external reward process (rewards/reward_external.h), which a
// user's script writes. Each input line is one reply. The parser never throws; a reply it accepts
// is a finite number or NaN (null: not applicable), and a refusal always says why.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "rlvr/rewards/reward_external.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::string line;
  while (std::getline(in, line)) {
    double v = 0;
    std::string why;
    if (rlvr::parse_reward_reply(line, &v, &why)) {
      if (std::isinf(v)) __builtin_trap();
    } else if (why.empty()) {
      __builtin_trap();
    }
  }
  return 0;
}
