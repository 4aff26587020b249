// Learning-rate schedules (see schedule.h); formulas follow transformers.optimization.
#include "rlvr/train/schedule.h"

#include <algorithm>
#include <cmath>

namespace rlvr {

double lr_at(int64_t step, int64_t total_steps, int64_t warmup_steps, ScheduleType type,
             double base_lr) {
  if (type == ScheduleType::kConstant) return base_lr;
  const double s = static_cast<double>(step), w = static_cast<double>(warmup_steps);
  if (step < warmup_steps) return base_lr * s / std::max(1.0, w);
  if (type == ScheduleType::kConstantWithWarmup) return base_lr;
  const double span = std::max(1.0, static_cast<double>(total_steps - warmup_steps));
  if (type == ScheduleType::kLinear)
    return base_lr * std::max(0.0, static_cast<double>(total_steps - step) / span);
  const double progress = (s - w) / span;  // cosine with num_cycles = 0.5
  return base_lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

int64_t resolve_warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps) {
  if (warmup_steps > 0) return warmup_steps;
  return static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(total_steps)));
}

}  // namespace rlvr
