#pragma once
/// @file
/// @brief Atomic training checkpoints: trainable weights, optimizer moments, schedule
/// position, generator state and the place in the data, enough for a bitwise-exact resume.

#include <cstdint>
#include <filesystem>

#include <torch/torch.h>

#include "loraft/optim/adamw.h"
#include "loraft/optim/schedule.h"

namespace loraft::train {

/// Where a run stands, besides its tensors.
struct TrainingProgress {
  std::int64_t epoch = 0;        ///< epoch in progress (0-based)
  std::int64_t next_batch = 0;   ///< first batch of that epoch still to do
  std::int64_t global_step = 0;  ///< optimizer steps done
  double train_time = 0;         ///< seconds spent in steps so far
  double eval_time = 0;          ///< seconds spent evaluating so far
  double data_time = 0;          ///< seconds spent building batches so far
  std::int64_t examples = 0;     ///< training examples seen so far
  double loss_scale = 0;         ///< fp16 loss scale (0: no scaler)
  std::int64_t loss_scale_growth_tracker = 0;  ///< clean steps since the scale last changed
};

/// Writes `<dir>/step-<global_step>/` (weights.safetensors with every parameter of `model`
/// that requires a gradient, optimizer.safetensors, rng.safetensors with the states of the
/// default CPU generator and of each CUDA device's, state.json) into a temporary folder first
/// and renames it into place, then deletes all but the newest `keep` checkpoints.
void save_checkpoint(const std::filesystem::path& dir, torch::nn::Module& model,
                     const optim::AdamW& optimizer, const optim::LinearSchedule& schedule,
                     const TrainingProgress& progress, std::int64_t keep);

/// Restores the newest readable checkpoint under `dir` into `model` (its trainable
/// parameters), `optimizer`, `schedule`, the default generators it saved and `progress`. A damaged
/// checkpoint is skipped with a warning in favour of an older one. Returns false when there is
/// none to restore.
bool load_checkpoint(const std::filesystem::path& dir, torch::nn::Module& model,
                     optim::AdamW& optimizer, optim::LinearSchedule& schedule,
                     TrainingProgress& progress);

}  // namespace loraft::train
