#pragma once
/// @file
/// @brief AdamW with decoupled weight decay, step for step the arithmetic of PyTorch's
/// single-tensor `torch.optim.AdamW` (the path Hugging Face's Trainer uses on CPU).

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "loraft/optim/param_groups.h"

namespace loraft::optim {

/// Hyperparameters shared by every group (the Trainer's defaults).
struct AdamWOptions {
  double beta1 = 0.9;    ///< first-moment decay
  double beta2 = 0.999;  ///< second-moment decay
  double eps = 1e-8;     ///< added to the denominator after bias correction
  /// Update float32 CPU parameters (contiguous, with contiguous gradients) in one pass over
  /// parameter, gradient and moments, on loraft::num_threads() threads, when the CPU has
  /// AVX2 and FMA: bit for bit the result of the per-operation path (false), which runs each
  /// line of the formula below as its own LibTorch operation over the whole tensor.
  bool fused = true;
};

/// AdamW over parameter groups. One step, per parameter with a gradient
/// (torch/optim/adamw.py `_single_tensor_adamw`, torch 1.13.1):
/// @code
///   p *= 1 - lr * wd
///   m = b1 * m + (1 - b1) * g
///   v = b2 * v + (1 - b2) * g * g
///   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
/// @endcode
/// with t counted per parameter. Parameters without a gradient are skipped, like PyTorch.
/// The rounding is LibTorch's: every operation rounds to float32, except that its add_ and
/// addcmul_ kernels fuse the last product with the sum, `fma(g, 1 - b1, b1 * m)` and
/// `fma((1 - b2) * g, g, b2 * v)`; AdamWOptions::fused does the same.
class AdamW {
 public:
  /// Takes the groups (learning rates and decays as given) and the shared hyperparameters.
  explicit AdamW(std::vector<ParamGroup> groups, AdamWOptions options = {});

  /// One update of every parameter that has a gradient.
  void step();
  /// Drops every gradient (sets it undefined, PyTorch's `set_to_none=True`).
  void zero_grad();

  /// The groups; a schedule writes `lr` here.
  std::vector<ParamGroup>& groups() noexcept { return groups_; }
  /// The groups, read-only.
  const std::vector<ParamGroup>& groups() const noexcept { return groups_; }
  /// The shared hyperparameters.
  const AdamWOptions& options() const noexcept { return options_; }
  /// Every parameter of every group, in group order.
  std::vector<torch::Tensor> parameters() const;

  /// The optimizer state as named tensors, for checkpoints: `<name>.exp_avg`,
  /// `<name>.exp_avg_sq` and `<name>.step` (int64 scalar) for each parameter stepped so far.
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  /// Restores what state() returned (same parameter names); throws loraft::FormatError
  /// naming the first missing or mis-shaped entry.
  void load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state);

 private:
  struct Moments {
    torch::Tensor exp_avg, exp_avg_sq;
    std::int64_t step = 0;
  };
  std::vector<ParamGroup> groups_;
  AdamWOptions options_;
  std::vector<std::vector<Moments>> moments_;  // parallel to groups_[g].params
};

}  // namespace loraft::optim
