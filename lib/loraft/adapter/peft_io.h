#pragma once
/// @file
/// @brief PEFT adapter folders in and out: adapter_config.json + adapter_model.safetensors
/// with the key names PEFT 0.13.2 writes and reads.

#include <filesystem>
#include <map>
#include <string>

#include <torch/torch.h>

#include "loraft/adapter/lora.h"
#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"

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

/// The folder layout every PEFT method saves: `dir/adapter_model.safetensors` holding `tensors`
/// (detached, `{"format": "pt"}` metadata) and `dir/adapter_config.json` holding `config`, each
/// written atomically; `dir` is created if needed.
void write_adapter_folder(const std::filesystem::path& dir, const io::NamedTensors& tensors,
                          const io::OrderedJson& config);

/// The `peft_type` of the adapter folder `dir` (LORA, IA3, PROMPT_TUNING, ...); "LORA" when the
/// key is absent, as from_peft_json() reads it. FormatError for a file that is not a JSON object.
std::string read_peft_type(const std::filesystem::path& dir);

/// ConfigError naming both methods when the folder `dir` holds an adapter of another PEFT method
/// than `wanted` (a LoRA folder loaded as IA3, ...).
void expect_peft_type(const std::filesystem::path& dir, const std::string& wanted);

/// Copies every tensor of `file` into the tensor of `into` with its key (each shares storage with
/// a model parameter), after checking that the keys and shapes agree exactly: missing, unexpected
/// or mis-shaped tensors are one FormatError listing them all, naming `weights`, and the model is
/// then left untouched. Non-finite values are a FormatError too.
void copy_adapter_tensors(const io::SafetensorsFile& file, const std::map<std::string, torch::Tensor>& into,
                          const std::filesystem::path& weights);

/// Writes `dir/adapter_config.json` and `dir/adapter_model.safetensors` (atomically): the
/// LoRA matrices, the DoRA magnitudes and the modules_to_save parameters of a model prepared
/// by apply_lora(), under PEFT's saved key names, with `{"format": "pt"}` metadata, so PEFT's
/// `PeftModel.from_pretrained` loads it. ConfigError if `config.use_dora` disagrees with the
/// model's layers (the file would not load as that config says).
void save_adapter(const std::filesystem::path& dir, torch::nn::Module& model,
                  const LoraConfig& config);

/// Reads a PEFT adapter folder's configuration (adapter_config.json).
LoraConfig read_adapter_config(const std::filesystem::path& dir);

/// Loads a PEFT LoRA (or DoRA) adapter folder into a plain model: injects LoRA as its config
/// says, then copies every saved tensor into place. A folder of another PEFT method is a
/// ConfigError naming both (expect_peft_type()). Missing, unexpected or mis-shaped tensors are one
/// FormatError listing them all. Returns the configuration.
LoraConfig load_adapter(const std::filesystem::path& dir, torch::nn::Module& model);

}  // namespace loraft::adapter
