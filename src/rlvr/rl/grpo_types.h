// The GRPO mode enums, torch-free so that recipe parsing and the CLI can name them without
// pulling in libtorch headers. The math that uses them is in grpo.h.
#pragma once

namespace rlvr {

// How summed token losses are normalised (grpo-spec.md section 2).
enum class LossType { kGrpo, kBnpo, kDrGrpo, kDapo };
// How rewards are scaled into advantages.
enum class ScaleRewards { kGroup, kBatch, kNone };

const char* loss_type_name(LossType t);  // "grpo", "bnpo", "dr_grpo", "dapo"

}  // namespace rlvr
