#include "loraft/optim/schedule.h"

#include <algorithm>

#include "loraft/core/error.h"

namespace loraft::optim {

double linear_warmup_decay_factor(std::int64_t step, std::int64_t total, std::int64_t warmup) {
  if (step < warmup)
    return static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, warmup));
  return std::max(0.0, static_cast<double>(total - step) /
                           static_cast<double>(std::max<std::int64_t>(1, total - warmup)));
}

LinearSchedule::LinearSchedule(std::int64_t total, std::int64_t warmup)
    : total_(total), warmup_(warmup) {
  if (total < 0 || warmup < 0)
    throw ConfigError("negative step count for the learning-rate schedule", "schedule",
                      "total >= 0 and warmup >= 0");
}

}  // namespace loraft::optim
