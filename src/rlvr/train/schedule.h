// Learning-rate schedules with Hugging Face transformers semantics (get_scheduler): a multiplier
// of the base rate that depends only on the optimizer step. No optimizer state lives here.
#pragma once
#include <cstdint>

namespace rlvr {

enum class ScheduleType { kLinear, kCosine, kConstant, kConstantWithWarmup };

// Learning rate for optimizer update number `step` (0-based: step 0 is the first update, i.e. the
// number of scheduler.step() calls so far in HF terms). Warmup rises linearly from 0:
// lr = base_lr * step / warmup_steps for step < warmup_steps; then
//   linear:   base_lr * max(0, (total - step) / max(1, total - warmup))
//   cosine:   base_lr * max(0, 0.5 * (1 + cos(pi * (step - warmup) / max(1, total - warmup))))
//   constant: base_lr (no warmup); constant_with_warmup: base_lr after warmup.
double lr_at(int64_t step, int64_t total_steps, int64_t warmup_steps, ScheduleType type,
             double base_lr);

// HF TrainingArguments.get_warmup_steps: warmup_steps when > 0, else ceil(warmup_ratio *
// total_steps).
int64_t resolve_warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps);

}  // namespace rlvr
