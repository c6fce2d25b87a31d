#pragma once
/// @file
/// @brief Gradient-norm clipping as `torch.nn.utils.clip_grad_norm_` (the Trainer's
/// `max_grad_norm`, default 1.0).

#include <vector>

#include <torch/torch.h>

namespace loraft::optim {

/// Scales the gradients of `params` so that their joint 2-norm is at most `max_norm`, and
/// returns the norm before clipping. As torch 1.13.1 `clip_grad_norm_`: the total is the
/// 2-norm of the per-tensor 2-norms (float32), the factor `max_norm / (total + 1e-6)` is
/// clamped to 1 and every gradient is multiplied by it, also when it is 1. Parameters
/// without a gradient are ignored; with none at all the norm is 0. Unlike torch, a norm that is
/// not finite leaves the gradients unchanged (torch makes them all NaN), so that the caller can
/// tell which gradient is not finite.
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

/// The joint 2-norm of the gradients, without changing them (for logging).
double grad_norm(const std::vector<torch::Tensor>& params);

}  // namespace loraft::optim
