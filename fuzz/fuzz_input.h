// Helpers shared by the fuzz targets (fuzz/README.md): the input as a file in a private scratch
// folder (the parsers under test read files, as they do for users), and the rule every target
// enforces: bad input may only end in rlvr::Error (one clear line); any other exception, crash,
// leak or undefined behaviour is a finding.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr::fuzz {

// A per-process scratch folder under $TMPDIR (or /tmp), made once.
inline const std::string& scratch() {
  static const std::string dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::string d = std::string(t && *t ? t : "/tmp") + "/rlvr-fuzz-" + std::to_string(::getpid());
    rlvr::make_dirs(d);
    return d;
  }();
  return dir;
}

// scratch()/name, made (the folder a target writes its input file into).
inline std::string scratch_subdir(const std::string& name) {
  const std::string d = scratch() + "/" + name;
  rlvr::make_dirs(d);
  return d;
}

// Writes the input to scratch()/name and returns the path.
inline std::string as_file(const uint8_t* data, size_t size, const std::string& name) {
  const std::string path = scratch() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                static_cast<std::streamsize>(size));
  return path;
}

// Runs f; an rlvr::Error is the expected refusal of bad input, anything else propagates.
template <class F>
void refusal_ok(F&& f) {
  try {
    f();
  } catch (const rlvr::Error&) {
  }
}

}  // namespace rlvr::fuzz
