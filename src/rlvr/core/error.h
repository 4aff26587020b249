// rlvr::Error and RLVR_CHECK: the one way bad input or environment is reported.
// Messages name the file/key and say how to fix it; main() prints them as one line.
// Checks stay on in release builds.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace rlvr {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// Builds a message from any streamable parts: fail("file ", path, ": bad header").
template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream os;
  detail::append(os, parts...);
  throw Error(os.str());
}

}  // namespace rlvr

#define RLVR_CHECK(cond, ...)                 \
  do {                                        \
    if (!(cond)) ::rlvr::fail(__VA_ARGS__);   \
  } while (0)
