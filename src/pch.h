// Precompiled header: <torch/torch.h> is the slowest include in the project; every torch target
// reuses this one compiled copy (CMake REUSE_FROM).
#pragma once
#include <torch/torch.h>
