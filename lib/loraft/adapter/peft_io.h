#pragma once
/// @file
/// @brief PEFT adapter folders in and out: adapter_config.json + adapter_model.safetensors
/// with the key names PEFT 0.13.2 writes and reads.

#include <filesystem>
#include <string>

#include <torch/torch.h>

#include "loraft/adapter/lora.h"

namespace loraft::adapter {

/// The key PEFT's `save_pretrained` gives a trainable parameter in adapter_model.safetensors:
/// `base_model.model.<name>` (PEFT's runtime `.default` and `modules_to_save.default.` are
/// already absent from loraft's names; a DoRA magnitude is `...q_lin.lora_magnitude_vector`
/// in both, without PEFT's runtime `.default.weight`).
std::string peft_saved_key(const std::string& name);

/// The name PEFT's `named_parameters()` gives the same parameter inside a PeftModel, e.g.
/// `base_model.model.<...>.q_lin.lora_A.default.weight`,
/// `base_model.model.<...>.q_lin.lora_magnitude_vector.default.weight` (DoRA) and
/// `base_model.model.pre_classifier.modules_to_save.default.weight` (to compare with tensors
/// dumped from a live PEFT model, such as gradients).
std::string peft_runtime_name(const std::string& name, const LoraConfig& config);

/// Writes `dir/adapter_config.json` and `dir/adapter_model.safetensors` (atomically): the
/// LoRA matrices, the DoRA magnitudes and the modules_to_save parameters of a model prepared
/// by apply_lora(), under PEFT's saved key names, with `{"format": "pt"}` metadata, so PEFT's
/// `PeftModel.from_pretrained` loads it. ConfigError if `config.use_dora` disagrees with the
/// model's layers (the file would not load as that config says).
void save_adapter(const std::filesystem::path& dir, torch::nn::Module& model,
                  const LoraConfig& config);

/// Reads a PEFT adapter folder's configuration (adapter_config.json).
LoraConfig read_adapter_config(const std::filesystem::path& dir);

/// Loads a PEFT adapter folder into a plain model: injects LoRA as its config says, then
/// copies every saved tensor into place. Missing, unexpected or mis-shaped tensors are one
/// FormatError listing them all. Returns the configuration.
LoraConfig load_adapter(const std::filesystem::path& dir, torch::nn::Module& model);

}  // namespace loraft::adapter
