#pragma once
/// @file
/// @brief PEFT adapter folders in and out: adapter_config.json + adapter_model.safetensors
/// with the key names PEFT 0.13.2 writes and reads.

#include <filesystem>
#include <map>
#include <string>

#include <torch/torch.h>

#include "loraft/adapter/ia3.h"
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

/// The name PEFT's `named_parameters()` gives a parameter of a model prepared by apply_ia3():
/// `base_model.model.<...>.k_lin.ia3_l.default` for a vector (no `.weight`: PEFT's ParameterDict
/// holds it directly), `base_model.model.pre_classifier.modules_to_save.default.weight` for a
/// head copy, `base_model.model.<name>` otherwise.
std::string peft_runtime_name(const std::string& name, const Ia3Config& config);

/// The folder layout every PEFT method saves: `dir/adapter_model.safetensors` holding `tensors`
/// (detached, `{"format": "pt"}` metadata) and `dir/adapter_config.json` holding `config`, each
/// written atomically; `dir` is created if needed.
void write_adapter_folder(const std::filesystem::path& dir, const io::NamedTensors& tensors,
                          const io::OrderedJson& config);

/// What read_peft_type() calls a folder of AdapterHub's `adapters` library (no peft_type, its
/// settings under "config"): its bottleneck adapters (adapter/bottleneck.h).
inline constexpr const char* kBottleneckType = "BOTTLENECK";

/// The method of the adapter folder `dir`: PEFT's `peft_type` (LORA, IA3, PROMPT_TUNING, ...),
/// kBottleneckType for an `adapters` folder, and "LORA" when a PEFT file has no peft_type, as
/// from_peft_json() reads it. FormatError for a file that is not a JSON object.
std::string read_peft_type(const std::filesystem::path& dir);

/// ConfigError naming both methods when the folder `dir` holds an adapter of another method
/// than `wanted` (a LoRA folder loaded as IA3, a bottleneck folder as LoRA, ...).
void expect_peft_type(const std::filesystem::path& dir, const std::string& wanted);

/// Copies every tensor of `file` into the tensor of `into` with its key (each shares storage with
/// a model parameter), after checking that the keys and shapes agree exactly: missing, unexpected
/// or mis-shaped tensors are one FormatError listing them all, naming `weights`, and the model is
/// then left untouched. Non-finite values are a FormatError too.
void copy_adapter_tensors(const io::SafetensorsFile& file, const std::map<std::string, torch::Tensor>& into,
                          const std::filesystem::path& weights);

/// The parameters PEFT trains and saves in full next to any method: every parameter inside a
/// module matching `modules_to_save` (is_module_to_save()), with its dotted name, in
/// `named_parameters()` order.
std::vector<std::pair<std::string, torch::Tensor>> modules_to_save_parameters(
    torch::nn::Module& model, const std::vector<std::string>& modules_to_save);

/// `name` as PEFT names it at run time when it lies inside a module to save:
/// `<module>.modules_to_save.default.<rest>` (peft/utils/other.py (0.13.2) ModulesToSaveWrapper
/// holds the trained copy there; `<module>` is the outermost matching one); else `name` unchanged.
std::string modules_to_save_runtime_name(const std::string& name, const std::vector<std::string>& modules_to_save);

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

/// Writes a PEFT (IA)³ adapter folder for a model prepared by apply_ia3() or load_ia3_adapter():
/// `adapter_config.json` (to_peft_json()) and `adapter_model.safetensors` holding the vectors as
/// `base_model.model.<...>.ia3_l` and the modules_to_save parameters as `base_model.model.<name>`
/// (PEFT 0.13.2 `get_peft_model_state_dict`), so PEFT's `PeftModel.from_pretrained` loads it.
/// ConfigError if the model has no (IA)³ layers, or its layers are not those `config` would
/// make (another target set, or a layer on the other side), since the folder would not load.
void save_ia3_adapter(const std::filesystem::path& dir, torch::nn::Module& model, const Ia3Config& config);

/// Reads a PEFT (IA)³ adapter folder's configuration (adapter_config.json; ia3_from_peft_json()).
Ia3Config read_ia3_adapter_config(const std::filesystem::path& dir);

/// Loads a PEFT (IA)³ adapter folder into a plain model: a folder of another PEFT method is a
/// ConfigError naming both (expect_peft_type()); then injects (IA)³ as its config says
/// (apply_ia3()) and copies every saved tensor into place. Missing, unexpected or mis-shaped
/// tensors are one FormatError listing them all. Returns the configuration.
Ia3Config load_ia3_adapter(const std::filesystem::path& dir, torch::nn::Module& model);

}  // namespace loraft::adapter
