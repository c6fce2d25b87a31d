#pragma once
/// @file
/// @brief (IA)³ (Liu et al. 2022, PEFT 0.13.2 `IA3Config`): a learned vector rescaling the
/// output (attention keys and values) or the input (the feed-forward's second layer) of chosen
/// linear layers; putting it into a model, merging it and taking it out again.

#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "loraft/adapter/ia3_config.h"
#include "loraft/model/linear.h"

namespace loraft::adapter {

/// A linear layer rescaled by a trainable vector `ia3_l`, as PEFT 0.13.2 `ia3.Linear`:
/// - not feed-forward: `ia3_l` is [out, 1] and scales the output, bias included,
///   `y = (x Wᵀ + b) ⊙ l`;
/// - feed-forward: `ia3_l` is [1, in] and scales the input, `y = (x ⊙ l) Wᵀ + b`.
///
/// The frozen base weight and bias are registered under their own names (`weight`, `bias`), so a
/// wrapped `k_lin` still lists `...k_lin.weight` as transformers names it, next to
/// `...k_lin.ia3_l` (the key PEFT saves it under; PEFT's live name adds `.default`).
class Ia3LinearImpl : public model::LinearLayer {
 public:
  /// Wraps `base`. `ia3_l` takes the base weight's dtype and device (PEFT
  /// `_move_adapter_to_device_of_base_layer`) and starts at 1 with `init_ones` (PEFT
  /// `reset_ia3_parameters`), else at N(0, 1) drawn from the current LibTorch generator (PEFT's
  /// `torch.randn` in `IA3Layer.update_layer`).
  Ia3LinearImpl(std::shared_ptr<model::DenseImpl> base, bool is_feedforward, bool init_ones = true);

  /// The rescaled layer's output (the base alone while merged).
  torch::Tensor forward(const torch::Tensor& input) override;
  /// Prints `Ia3Linear(in_features=..., out_features=..., feedforward=...)`.
  void pretty_print(std::ostream& stream) const override;

  /// Puts the vector into the base layer; forward then runs the base alone. No-op if merged.
  /// W ⊙ l for both shapes (rows for [out, 1], columns for [1, in]); the bias is scaled too
  /// when not feed-forward, and unchanged when feed-forward.
  void merge();
  /// Divides it out again, W / (l + 1e-8) (and the bias likewise when not feed-forward), exact up
  /// to float rounding as long as no entry of l is near 0. No-op if not merged.
  void unmerge();
  /// Whether the vector is in the base layer.
  bool merged() const noexcept { return merged_; }

  std::shared_ptr<model::DenseImpl> base;  ///< the frozen layer (not a registered child)
  bool is_feedforward;                     ///< scales the input ([1, in]) rather than the output ([out, 1])
  torch::Tensor ia3_l;                     ///< the trainable vector (registered as `ia3_l`)

 private:
  bool merged_ = false;
};

/// Holder of Ia3LinearImpl.
TORCH_MODULE(Ia3Linear);

/// Whether the module called `name` (dotted, relative to the model) is an (IA)³ target under
/// `config`: its whole name or a suffix after a dot is an entry of target_modules (PEFT 0.13.2
/// `check_target_module_exists`; IA3Config has no layer filter).
bool is_ia3_target(const std::string& name, const Ia3Config& config);

/// Whether the target called `name` gets the input-side vector: its name ends with an entry of
/// feedforward_modules, by plain suffix without a dot (PEFT 0.13.2
/// `IA3Model._check_target_module_feedforward`, `key.endswith(target_key)`).
bool is_ia3_feedforward(const std::string& name, const Ia3Config& config);

/// What apply_ia3() did.
struct Ia3Injection {
  std::vector<std::string> targeted;         ///< wrapped linear layers, in module order
  std::vector<std::string> modules_to_save;  ///< modules left trainable in full
};

/// Wraps every targeted linear layer of `model` in an Ia3Linear (feed-forward ones scaling
/// their input), freezes every other parameter (PEFT `IA3Model._mark_only_adapters_as_trainable`)
/// and leaves the modules_to_save trainable. ConfigError if the config is invalid, a target
/// names a module that is not a linear layer, no module matches (PEFT: "Target modules ... not
/// found"), or the model already has LoRA or (IA)³ layers.
Ia3Injection apply_ia3(torch::nn::Module& model, const Ia3Config& config);

/// Every Ia3Linear in `model` with its dotted name, in module order.
std::vector<std::pair<std::string, Ia3Linear>> ia3_layers(torch::nn::Module& model);

/// Merges every (IA)³ vector into its base layer (inference without the extra product).
void merge_ia3(torch::nn::Module& model);
/// Divides the vectors out again.
void unmerge_ia3(torch::nn::Module& model);
/// Merges, then puts each base layer back in place of its wrapper: the model is a plain one
/// again (PEFT `IA3Model.merge_and_unload`), ready to save as a transformers checkpoint.
void merge_and_unload_ia3(torch::nn::Module& model);

}  // namespace loraft::adapter
