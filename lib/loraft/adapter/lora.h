#pragma once
/// @file
/// @brief Putting LoRA into a model and taking it out again: target matching as PEFT does it,
/// freezing, merge and unmerge, PEFT's parameter accounting.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "loraft/adapter/lora_config.h"
#include "loraft/adapter/lora_linear.h"

namespace loraft::adapter {

/// Whether the module called `name` (dotted, relative to the model) is a LoRA target under
/// `config`: PEFT 0.13.2 `check_target_module_exists`, including its layer-index filter.
bool is_lora_target(const std::string& name, const LoraConfig& config);

/// Whether the module called `name` trains in full next to the adapter: PEFT 0.13.2
/// `_set_trainable` tests `name.endswith(entry)` for each modules_to_save entry (no dot), for
/// every PEFT method.
bool is_module_to_save(const std::string& name, const std::vector<std::string>& modules_to_save);

/// Freezes every parameter of `model`, then lets the modules that is_module_to_save() picks train
/// in full (PEFT 0.13.2 `_set_trainable`, for every method); returns those modules' names, in
/// module order. A method then adds its own trainable parameters.
std::vector<std::string> freeze_all_but_modules_to_save(torch::nn::Module& model,
                                                        const std::vector<std::string>& modules_to_save);

/// What apply_lora() did.
struct LoraInjection {
  std::vector<std::string> targeted;         ///< wrapped linear layers, in module order
  std::vector<std::string> modules_to_save;  ///< modules left trainable in full
};

/// Wraps every targeted linear layer of `model` in a LoraLinear (A drawn from `seed`, B
/// zero; with `config.use_dora` also a DoRA magnitude vector at the row norms of W), freezes
/// every other parameter, and leaves the modules_to_save trainable. The
/// caller's LibTorch generator state is restored afterwards. ConfigError if the config is
/// invalid, a target names a module that is not a linear layer, no module matches (PEFT:
/// "Target modules ... not found"), or the model already has LoRA layers.
LoraInjection apply_lora(torch::nn::Module& model, const LoraConfig& config, std::uint64_t seed);

/// Every LoraLinear in `model` with its dotted name, in module order.
std::vector<std::pair<std::string, LoraLinear>> lora_layers(torch::nn::Module& model);

/// Merges every LoRA layer's delta into its base weight (inference without the extra path).
void merge_lora(torch::nn::Module& model);
/// Takes the deltas out again.
void unmerge_lora(torch::nn::Module& model);
/// Merges, then puts each base layer back in place of its wrapper: the model is a plain one
/// again (PEFT `merge_and_unload`), ready to save as a transformers checkpoint.
void merge_and_unload(torch::nn::Module& model);

/// Parameter counts as PEFT's `get_nb_trainable_parameters` reports them.
struct PeftParameterCounts {
  std::int64_t trainable = 0;  ///< the method's parameters (LoRA matrices, ...) + modules_to_save
  /// Every parameter of the model, plus a second count of the modules_to_save: PEFT keeps
  /// the original head and a trainable copy, and counts both.
  std::int64_t all = 0;
  /// `trainable params: 2,212 || all params: 33,256 || trainable%: 6.6514`, the exact line
  /// PEFT's `print_trainable_parameters()` prints.
  std::string line() const;
};

/// PEFT's counts for a model prepared for any PEFT method (apply_lora(), ...) whose config
/// lists `modules_to_save`.
PeftParameterCounts peft_parameter_counts(torch::nn::Module& model, const std::vector<std::string>& modules_to_save);

}  // namespace loraft::adapter
