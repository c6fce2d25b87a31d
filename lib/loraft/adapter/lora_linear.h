#pragma once
/// @file
/// @brief A linear layer with a low-rank trainable path next to its frozen weight (LoRA).

#include <cstdint>
#include <memory>

#include <torch/torch.h>

#include "loraft/model/distilbert.h"

namespace loraft::adapter {

/// `y = base(x) + lora_B(lora_A(dropout(x))) * scaling`, as PEFT 0.13.2 `lora.Linear.forward`.
///
/// The frozen base weight and bias are registered under their own names (`weight`, `bias`),
/// so a wrapped `q_lin` still lists `...q_lin.weight` as transformers names it, next to the
/// adapter's `...q_lin.lora_A.weight` ([r, in]) and `...q_lin.lora_B.weight` ([out, r]).
/// A starts kaiming-uniform (a = sqrt(5)), B at zero, so the wrapped layer starts equal to the
/// base (PEFT `reset_lora_parameters` with init_lora_weights=True).
class LoraLinearImpl : public model::LinearLayer {
 public:
  /// Wraps `base`; draws A from the current LibTorch generator (seed it first).
  LoraLinearImpl(std::shared_ptr<model::DenseImpl> base, std::int64_t r, double scaling,
                 double dropout);

  /// Base output plus the low-rank path (the base alone while merged).
  torch::Tensor forward(const torch::Tensor& input) override;
  /// Prints `LoraLinear(in, out, r=..., scaling=...)`.
  void pretty_print(std::ostream& stream) const override;

  /// B·A·scaling [out, in], computed in float32 whatever the weights' dtype (PEFT
  /// `get_delta_weight` upcasts half precision on the CPU).
  torch::Tensor delta_weight() const;
  /// Adds delta_weight() into the base weight; forward then skips the LoRA path. No-op if merged.
  void merge();
  /// Subtracts it again. No-op if not merged.
  void unmerge();
  /// Whether the delta is in the base weight.
  bool merged() const noexcept { return merged_; }

  std::shared_ptr<model::DenseImpl> base;  ///< the frozen layer (not a registered child)
  torch::nn::Linear lora_A;                ///< [r, in], no bias
  torch::nn::Linear lora_B;                ///< [out, r], no bias
  torch::nn::Dropout dropout;              ///< on the adapter input only
  std::int64_t r;                          ///< rank
  double scaling;                          ///< alpha / r (or alpha / sqrt(r))

 private:
  bool merged_ = false;
};

/// Holder of LoraLinearImpl.
TORCH_MODULE(LoraLinear);

}  // namespace loraft::adapter
