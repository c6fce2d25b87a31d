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
///
/// With DoRA (`use_dora`, PEFT 0.13.2 `DoraLinearLayer`) the layer also owns a trainable
/// magnitude m [out], registered as `lora_magnitude_vector` (so that named_parameters() lists
/// `...q_lin.lora_magnitude_vector`, the key PEFT saves it under), which starts at the row
/// norms of W. Its output is
/// `y = base(x) + (m/n - 1) * (x' Wᵀ) + (m/n) * lora_B(lora_A(x')) * scaling`, x' = dropout(x),
/// with n = ‖W + scaling·B·A‖ per row of the [out, in] weight, recomputed every forward and
/// detached (no gradient flows through n). Without dropout that is
/// `(m/n) * (x Wᵀ + scaling · x Aᵀ Bᵀ) + bias`: the bias is not rescaled.
class LoraLinearImpl : public model::LinearLayer {
 public:
  /// Wraps `base`; draws A from the current LibTorch generator (seed it first). With
  /// `use_dora`, also the magnitude vector, set to weight_norm() (the row norms of W, B being 0).
  LoraLinearImpl(std::shared_ptr<model::DenseImpl> base, std::int64_t r, double scaling,
                 double dropout, bool use_dora = false);

  /// Base output plus the low-rank path (the base alone while merged).
  torch::Tensor forward(const torch::Tensor& input) override;
  /// Prints `LoraLinear(in, out, r=..., scaling=...)` (and `use_dora=true` for DoRA).
  void pretty_print(std::ostream& stream) const override;

  /// B·A·scaling [out, in], computed in float32 whatever the weights' dtype (PEFT
  /// `get_delta_weight` upcasts half precision on the CPU).
  torch::Tensor delta_weight() const;
  /// DoRA's n: ‖W + scaling·B·A‖ over the input features, one value per output row [out],
  /// detached (PEFT 0.13.2 `DoraLinearLayer.get_weight_norm`, `torch.linalg.norm(.., dim=1)`).
  /// Meaningful while not merged; defined for plain LoRA layers too.
  torch::Tensor weight_norm() const;
  /// Puts the adapter into the base weight; forward then skips the adapter path. No-op if
  /// merged. LoRA: W += delta_weight(). DoRA: W = (m / n)[:, None] * (W + delta_weight()), n
  /// the row norms of W + delta_weight(), kept for unmerge(); the bias is left alone.
  void merge();
  /// Takes it out again (LoRA: W -= delta_weight(); DoRA: W = W / (m / n)[:, None] -
  /// delta_weight() with the n of merge()). No-op if not merged.
  void unmerge();
  /// Whether the delta is in the base weight.
  bool merged() const noexcept { return merged_; }

  std::shared_ptr<model::DenseImpl> base;  ///< the frozen layer (not a registered child)
  torch::nn::Linear lora_A;                ///< [r, in], no bias
  torch::nn::Linear lora_B;                ///< [out, r], no bias
  torch::nn::Dropout dropout;              ///< on the adapter input only
  std::int64_t r;                          ///< rank
  double scaling;                          ///< alpha / r (or alpha / sqrt(r))
  bool use_dora;                           ///< DoRA: the magnitude vector rescales each output row
  /// DoRA's magnitude m [out] (registered as `lora_magnitude_vector`, trainable); undefined
  /// without DoRA.
  torch::Tensor lora_magnitude_vector;

 private:
  // The rows' norms n at merge(), which unmerge() divides by: n cannot be recomputed from the
  // merged weight (PEFT caches it the same way, `_cache_store(f"{adapter}-weight_norm")`).
  torch::Tensor merged_norm_;
  bool merged_ = false;
};

/// Holder of LoraLinearImpl.
TORCH_MODULE(LoraLinear);

}  // namespace loraft::adapter
