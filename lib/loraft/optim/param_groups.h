#pragma once
/// @file
/// @brief Which parameters an optimizer updates, with which learning rate and weight decay:
/// the Hugging Face Trainer rule and PEFT's LoRA+ rule.

#include <string>
#include <vector>

#include <torch/torch.h>

namespace loraft::optim {

/// A trainable tensor with the facts the grouping rules look at.
struct NamedParameter {
  std::string name;            ///< full name, as named_parameters() gives it
  torch::Tensor tensor;        ///< the parameter itself (its .grad() is what the step reads)
  bool in_layer_norm = false;  ///< owned directly by a torch::nn::LayerNorm module
  bool in_embedding = false;   ///< owned directly by a torch::nn::Embedding module
};

/// The parameters of `model` that require gradients, in named_parameters() order, each once
/// (a tied tensor is listed under its first name, as PyTorch's remove_duplicate does).
std::vector<NamedParameter> trainable_parameters(torch::nn::Module& model);

/// A set of parameters sharing a learning rate and weight decay.
struct ParamGroup {
  std::string name;                     ///< "decay", "no_decay", "groupA", ... (for records)
  std::vector<NamedParameter> params;   ///< members, in the reference's order
  double lr = 0.0;                      ///< learning rate in force (schedules rescale it)
  double initial_lr = 0.0;              ///< learning rate before any schedule
  double weight_decay = 0.0;            ///< decoupled weight decay coefficient
};

/// Whether a parameter decays under transformers 4.46.3 `Trainer.get_decay_parameter_names`:
/// every parameter outside LayerNorm modules (`ALL_LAYERNORM_LAYERS` = [nn.LayerNorm]) whose
/// name does not contain "bias".
bool trainer_decays(const NamedParameter& p);

/// transformers 4.46.3 `Trainer.create_optimizer`: group 0 = decaying parameters with
/// `weight_decay`, group 1 = the others with 0.0, both at `lr`, in named_parameters() order.
std::vector<ParamGroup> trainer_param_groups(const std::vector<NamedParameter>& params,
                                             double lr, double weight_decay);

/// How LoRA+ groups get their weight decay.
enum class LoraPlusDecay {
  /// As PEFT 0.13.2 `create_loraplus_optimizer` does: groups A, embedding and B take
  /// `loraplus_weight_decay` (PEFT's default 0.0), NOT the run's weight decay, and the
  /// embedding group is always empty (PEFT tests `attrgetter(name)(model)`, which yields the
  /// parameter, not its module, against nn.Embedding). Reproduces the report.
  peft_faithful,
  /// Groups A, embedding and B take the run's `weight_decay`, and parameters of Embedding
  /// modules really land in the embedding group.
  corrected,
};

/// Options of the LoRA+ optimizer (Hayou et al. 2024; PEFT `create_loraplus_optimizer`).
struct LoraPlusOptions {
  double lr = 5e-5;                     ///< learning rate of group A (and the base of the others)
  double ratio = 2.0;                   ///< lr(B) / lr(A), PEFT's `loraplus_lr_ratio`
  double lr_embedding = 1e-6;           ///< PEFT's `loraplus_lr_embedding` default
  double loraplus_weight_decay = 0.0;   ///< PEFT's `loraplus_weight_decay` (faithful mode)
  double weight_decay = 0.0;            ///< the run's weight decay (corrected mode)
  LoraPlusDecay decay = LoraPlusDecay::peft_faithful;  ///< which rule applies
};

/// The four groups PEFT 0.13.2 builds, in its order: "groupA" (lr), "embedding"
/// (lr_embedding), "groupB" (lr * ratio), "groupB_no_decay" (lr * ratio, decay 0.0).
/// A parameter goes to B when its name contains "lora_B" or it is 1-D; to groupB if it
/// decays by the Trainer rule, else to groupB_no_decay; every other parameter to A.
std::vector<ParamGroup> loraplus_param_groups(const std::vector<NamedParameter>& params,
                                              const LoraPlusOptions& options);

/// The name of a LoraPlusDecay mode ("peft_faithful" or "corrected"), for run records.
const char* to_string(LoraPlusDecay mode);

/// The LoraPlusDecay called `name`; ConfigError naming `where` otherwise.
LoraPlusDecay parse_loraplus_decay(const std::string& name, const std::string& where);

}  // namespace loraft::optim
