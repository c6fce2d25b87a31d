#pragma once
/// @file
/// @brief Learning-rate schedules (Hugging Face `get_linear_schedule_with_warmup`).

#include <cstdint>

namespace loraft::optim {

/// The learning-rate factor of transformers' `get_linear_schedule_with_warmup` after `step`
/// scheduler steps: `step / warmup` during warm-up, then a straight line from 1 down to 0 at
/// `total` steps, never negative (transformers 4.46.3 optimization.py,
/// `_get_linear_schedule_with_warmup_lr_lambda`).
double linear_warmup_decay_factor(std::int64_t step, std::int64_t total, std::int64_t warmup);

/// Linear warm-up then linear decay to 0, stepped once after each optimizer step as the
/// Trainer does: the lr used at optimizer step k (from 0) is base * factor(k).
class LinearSchedule {
 public:
  /// @param total  number of optimizer steps of the run
  /// @param warmup number of warm-up steps (0 for none)
  LinearSchedule(std::int64_t total, std::int64_t warmup = 0);
  /// Factor for the next optimizer step.
  double factor() const { return linear_warmup_decay_factor(step_, total_, warmup_); }
  /// Moves to the next step.
  void step() { ++step_; }
  /// Scheduler steps taken so far (saved in checkpoints).
  std::int64_t steps_taken() const noexcept { return step_; }
  /// Restores the step count of a checkpoint.
  void set_steps_taken(std::int64_t step) noexcept { step_ = step; }

 private:
  std::int64_t total_, warmup_, step_ = 0;
};

}  // namespace loraft::optim
