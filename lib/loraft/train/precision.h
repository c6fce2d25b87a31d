#pragma once
/// @file
/// @brief Mixed precision of forward passes, as transformers' `--bf16` and `--fp16`:
/// autocast over the model's forward (weights, gradients and optimizer stay float32).

#include <string>

#include <torch/torch.h>

namespace loraft::train {

/// Which autocast a run uses (TrainingArguments `bf16` / `fp16`).
enum class Autocast {
  none,  ///< float32 throughout (the Trainer's default)
  bf16,  ///< bfloat16 autocast on the run's device (CPU or CUDA); no loss scaling, as `bf16=True`
  fp16,  ///< float16 autocast with dynamic loss scaling (optim::GradScaler); CUDA only, as `fp16=True`
};

/// "none", "bf16" or "fp16".
const char* to_string(Autocast autocast);
/// The Autocast called `name`; ConfigError naming `where` otherwise.
Autocast parse_autocast(const std::string& name, const std::string& where);
/// ConfigError when `autocast` cannot run on `device` (fp16 needs CUDA, as transformers 4.46
/// requires a GPU for `fp16=True` with torch before 2.3).
void check_autocast(Autocast autocast, const torch::Device& device);

/// While alive, operations on `device` run under LibTorch's autocast with the dtype of
/// `autocast` (nothing happens for Autocast::none), like `torch.autocast(device_type, dtype)`
/// in Python. On leaving the outermost guard the autocast weight cache is cleared, so the
/// next forward casts the updated weights again. Guards nest; the previous state returns.
class AutocastGuard {
 public:
  /// Enables autocast for `device`'s type with the dtype `autocast` names.
  AutocastGuard(Autocast autocast, const torch::Device& device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;             ///< not copyable
  AutocastGuard& operator=(const AutocastGuard&) = delete;  ///< not copyable

 private:
  bool active_ = false;
  torch::DeviceType device_type_ = torch::kCPU;
  bool was_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

}  // namespace loraft::train
