#include "loraft/adapter/peft_io.h"

#include <map>
#include <sstream>

#include "loraft/core/error.h"
#include "loraft/core/strings.h"
#include "loraft/io/file.h"
#include "loraft/io/safetensors.h"

namespace loraft::adapter {
namespace fs = std::filesystem;

namespace {

const char* kPrefix = "base_model.model.";

const char* kMagnitude = ".lora_magnitude_vector";

// DoRA's magnitude: `...q_lin.lora_magnitude_vector` in loraft and in PEFT's file, where
// peft/utils/save_and_load.py (0.13.2) get_peft_model_state_dict strips the runtime
// `.default.weight` (set_peft_model_state_dict adds it back).
bool is_magnitude(const std::string& name) { return ends_with(name, kMagnitude); }

bool is_lora_parameter(const std::string& name) {
  return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos ||
         is_magnitude(name);
}

// The module part of a parameter name ("a.b.weight" -> "a.b").
std::string module_of(const std::string& name) {
  auto dot = name.rfind('.');
  return dot == std::string::npos ? std::string() : name.substr(0, dot);
}

// Parameters PEFT saves: LoRA matrices, DoRA magnitudes and the modules_to_save (what trains).
std::vector<std::pair<std::string, torch::Tensor>> saved_parameters(torch::nn::Module& model,
                                                                    const LoraConfig& config) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    const std::string module = module_of(name);
    bool in_saved_module = false;
    for (std::string m = module; !m.empty(); m = module_of(m))
      if (is_module_to_save(m, config.modules_to_save)) in_saved_module = true;
    if (is_lora_parameter(name) || in_saved_module) out.emplace_back(name, item.value());
  }
  return out;
}

}  // namespace

std::string peft_saved_key(const std::string& name) { return kPrefix + name; }

std::string peft_runtime_name(const std::string& name, const LoraConfig& config) {
  // "...q_lin.lora_magnitude_vector" -> "...q_lin.lora_magnitude_vector.default.weight"
  // (PEFT's DoraLinearLayer in the ModuleDict lora_magnitude_vector holds it as `weight`).
  if (is_magnitude(name)) return kPrefix + name + ".default.weight";
  if (is_lora_parameter(name)) {
    // "...q_lin.lora_A.weight" -> "...q_lin.lora_A.default.weight"
    auto dot = name.rfind('.');
    return kPrefix + name.substr(0, dot) + ".default" + name.substr(dot);
  }
  const std::string module = module_of(name);
  if (is_module_to_save(module, config.modules_to_save))
    return kPrefix + module + ".modules_to_save.default" + name.substr(module.size());
  return kPrefix + name;
}

void write_adapter_folder(const fs::path& dir, const io::NamedTensors& tensors, const io::OrderedJson& config) {
  fs::create_directories(dir);
  io::NamedTensors detached;
  for (const auto& [key, t] : tensors) detached.emplace_back(key, t.detach());
  io::save_safetensors(dir / "adapter_model.safetensors", detached, {{"format", "pt"}});
  io::write_file_atomic(dir / "adapter_config.json", config.dump(2) + "\n");
}

std::string read_peft_type(const fs::path& dir) {
  const fs::path file = dir / "adapter_config.json";
  const io::Json json = io::read_json(file);
  if (!json.is_object()) throw FormatError("not a JSON object", file.string(), "adapter_config.json");
  auto it = json.find("peft_type");
  if (it == json.end() || it->is_null()) return "LORA";  // as from_peft_json(): LoRA's is the default
  if (!it->is_string())
    throw FormatError("peft_type is not a string", file.string(), "a PEFT method name (LORA, IA3, PROMPT_TUNING)");
  return it->get<std::string>();
}

void expect_peft_type(const fs::path& dir, const std::string& wanted) {
  const std::string found = read_peft_type(dir);
  if (found != wanted)
    throw ConfigError("the adapter in " + dir.string() + " is a " + found + " adapter, not " + wanted,
                      (dir / "adapter_config.json").string(), "an adapter of method " + wanted);
}

void copy_adapter_tensors(const io::SafetensorsFile& file, const std::map<std::string, torch::Tensor>& into,
                          const fs::path& weights) {
  std::vector<std::string> missing, unexpected, misshaped;
  for (const auto& info : file.tensors())
    if (!into.count(info.name)) unexpected.push_back(info.name);
  for (const auto& [key, t] : into) {
    if (!file.contains(key)) {
      missing.push_back(key);
      continue;
    }
    const auto& shape = file.info(key).shape;
    if (std::vector<std::int64_t>(t.sizes().begin(), t.sizes().end()) != shape) misshaped.push_back(key);
  }
  if (!missing.empty() || !unexpected.empty() || !misshaped.empty()) {
    std::ostringstream msg;
    msg << "adapter does not fit the model:";
    auto list = [&](const char* what, const std::vector<std::string>& names) {
      if (names.empty()) return;
      msg << " " << what << " [";
      for (std::size_t i = 0; i < names.size(); ++i) msg << (i ? ", " : "") << names[i];
      msg << "]";
    };
    list("missing", missing);
    list("unexpected", unexpected);
    list("wrong shape", misshaped);
    throw FormatError(msg.str(), weights.string(), "PEFT keys for this model and config");
  }
  torch::NoGradGuard no_grad;
  for (const auto& [key, t] : into) {
    torch::Tensor target = t;  // shares storage: copy_ writes the model's parameter
    target.copy_(file.finite_tensor(key).to(t.dtype()));
  }
}

void save_adapter(const fs::path& dir, torch::nn::Module& model, const LoraConfig& config) {
  if (lora_layers(model).empty())
    throw ConfigError("the model has no LoRA layers to save", dir.string(),
                      "a model prepared by apply_lora() or load_adapter()");
  for (auto& [name, layer] : lora_layers(model))
    if (layer->use_dora != config.use_dora)
      throw ConfigError(std::string("the config says use_dora = ") + (config.use_dora ? "true" : "false") +
                            ", but LoRA layer " + name + (layer->use_dora ? " has" : " has no") +
                            " DoRA magnitude vector",
                        (dir / "adapter_config.json").string(), "the LoraConfig the model was prepared with");
  io::NamedTensors tensors;
  for (auto& [name, t] : saved_parameters(model, config)) tensors.emplace_back(peft_saved_key(name), t);
  write_adapter_folder(dir, tensors, to_peft_json(config));
}

LoraConfig read_adapter_config(const fs::path& dir) {
  const fs::path file = dir / "adapter_config.json";
  const io::Json json = io::read_json(file);
  try {
    return from_peft_json(json, file.string());
  } catch (const io::Json::exception& e) {  // a key missing or of another type than PEFT writes
    throw FormatError(std::string("not a PEFT LoRA config: ") + e.what(), file.string(),
                      "adapter_config.json as PEFT 0.13.2 writes it (target_modules, r, lora_alpha, ...)");
  }
}

LoraConfig load_adapter(const fs::path& dir, torch::nn::Module& model) {
  expect_peft_type(dir, "LORA");
  LoraConfig config = read_adapter_config(dir);
  const fs::path weights = dir / "adapter_model.safetensors";
  io::SafetensorsFile file(weights);  // opened first: a bad file leaves the model untouched
  // r against the file before any LoRA matrix is allocated: a damaged or hostile r (1e12)
  // must not reach the allocator. PEFT stores A as [r, in] and B as [out, r].
  for (const auto& info : file.tensors()) {
    const bool a = ends_with(info.name, ".lora_A.weight"), b = ends_with(info.name, ".lora_B.weight");
    if ((a || b) && (info.shape.size() != 2 || info.shape[a ? 0 : 1] != config.r))
      throw FormatError("adapter_config.json has r = " + std::to_string(config.r) + ", but " + info.name +
                            " has " + (info.shape.size() == 2 ? "rank " + std::to_string(info.shape[a ? 0 : 1])
                                                               : std::to_string(info.shape.size()) + " dimensions"),
                        weights.string(), "LoRA matrices of rank r");
  }
  apply_lora(model, config, /*seed=*/0);
  std::map<std::string, torch::Tensor> into;
  for (auto& [name, t] : saved_parameters(model, config)) into[peft_saved_key(name)] = t;
  copy_adapter_tensors(file, into, weights);
  return config;
}

}  // namespace loraft::adapter
