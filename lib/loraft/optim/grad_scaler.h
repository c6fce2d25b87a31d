#pragma once
/// @file
/// @brief Dynamic loss scaling for float16 training, as `torch.cuda.amp.GradScaler` (what
/// the Trainer uses with `fp16=True`).

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace loraft::optim {

/// GradScaler's constructor arguments, with PyTorch's defaults.
struct GradScalerOptions {
  double init_scale = 65536.0;        ///< first scale (2^16)
  double growth_factor = 2.0;         ///< scale *= this after growth_interval clean steps
  double backoff_factor = 0.5;        ///< scale *= this after a step with non-finite gradients
  std::int64_t growth_interval = 2000;  ///< clean steps between growths
};

/// Multiplies the loss by a scale before backward so that small float16 gradients do not
/// underflow, divides the gradients by it before clipping and the optimizer step, and adapts
/// the scale: a step whose gradients are not finite is skipped and the scale backs off; after
/// growth_interval clean steps in a row it grows (torch/cuda/amp/grad_scaler.py).
class GradScaler {
 public:
  /// A scaler at options.init_scale.
  explicit GradScaler(GradScalerOptions options = {});

  /// `loss * scale()`, to call backward on.
  torch::Tensor scale_loss(const torch::Tensor& loss) const;
  /// Multiplies every gradient of `params` by the float32 reciprocal of the scale (as
  /// `unscale_`) and returns true when any gradient holds an inf or a NaN.
  bool unscale(const std::vector<torch::Tensor>& params) const;
  /// After a step: backs off when `found_inf`, else counts a clean step and grows the scale
  /// every growth_interval of them (`update()`).
  void update(bool found_inf);

  /// The current scale.
  double scale() const noexcept { return scale_; }
  /// Clean steps since the last growth or back-off.
  std::int64_t growth_tracker() const noexcept { return growth_tracker_; }
  /// Restores scale() and growth_tracker() from a checkpoint.
  void set_state(double scale, std::int64_t growth_tracker);

 private:
  GradScalerOptions options_;
  double scale_;
  std::int64_t growth_tracker_ = 0;
};

}  // namespace loraft::optim
