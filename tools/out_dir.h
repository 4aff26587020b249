// --out folders of the init commands (torch-free, shared by both halves of the CLI): what is
// there already is kept unless --force.
#pragma once
#include <string>
#include <vector>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr::cli {

// One line naming the first of `files` that `out` already holds, unless force.
inline void refuse_overwrite(const std::string& out, const std::vector<std::string>& files, bool force) {
  if (force) return;
  for (const std::string& f : files)
    RLVR_CHECK(!file_exists(join_path(out, f)), "--out ", out, ": already holds ", f,
               "; pass --force to overwrite it or choose another --out");
}

}  // namespace rlvr::cli
