#include "loraft/adapter/peft_io.h"

#include <algorithm>
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

// (IA)³'s vector: `...k_lin.ia3_l` in loraft and in PEFT's file (peft/utils/save_and_load.py
// (0.13.2) get_peft_model_state_dict keeps the keys holding "ia3_" and strips the runtime `.default`).
bool is_ia3_parameter(const std::string& name) { return ends_with(name, ".ia3_l"); }

// Parameters PEFT saves: the method's own (`is_method_parameter`: LoRA matrices and DoRA
// magnitudes, or (IA)³ vectors) and those of the modules_to_save (what trains).
std::vector<std::pair<std::string, torch::Tensor>> saved_parameters(torch::nn::Module& model,
                                                                    bool (*is_method_parameter)(const std::string&),
                                                                    const std::vector<std::string>& modules_to_save) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& item : model.named_parameters())
    if (is_method_parameter(item.key()) || modules_to_save_runtime_name(item.key(), modules_to_save) != item.key())
      out.emplace_back(item.key(), item.value());
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

std::string peft_runtime_name(const std::string& name, const Ia3Config& config) {
  // "...k_lin.ia3_l" -> "...k_lin.ia3_l.default" (the ParameterDict ia3_l of peft/tuners/ia3/layer.py
  // (0.13.2) IA3Layer holds the vector itself, so no `.weight`).
  if (is_ia3_parameter(name)) return kPrefix + name + ".default";
  return kPrefix + modules_to_save_runtime_name(name, config.modules_to_save);
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
  // AdapterHub's adapters library writes no peft_type, but its adapter settings as "config".
  if ((it == json.end() || it->is_null()) && json.contains("config") && json.contains("model_class"))
    return kBottleneckType;
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

std::vector<std::pair<std::string, torch::Tensor>> modules_to_save_parameters(
    torch::nn::Module& model, const std::vector<std::string>& modules_to_save) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& item : model.named_parameters())
    if (modules_to_save_runtime_name(item.key(), modules_to_save) != item.key())
      out.emplace_back(item.key(), item.value());
  return out;
}

std::string modules_to_save_runtime_name(const std::string& name, const std::vector<std::string>& modules_to_save) {
  std::string outermost;
  for (std::string m = module_of(name); !m.empty(); m = module_of(m))
    if (is_module_to_save(m, modules_to_save)) outermost = m;
  if (outermost.empty()) return name;
  return outermost + ".modules_to_save.default" + name.substr(outermost.size());
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
  for (auto& [name, t] : saved_parameters(model, is_lora_parameter, config.modules_to_save))
    tensors.emplace_back(peft_saved_key(name), t);
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
  for (auto& [name, t] : saved_parameters(model, is_lora_parameter, config.modules_to_save))
    into[peft_saved_key(name)] = t;
  copy_adapter_tensors(file, into, weights);
  return config;
}

void save_ia3_adapter(const fs::path& dir, torch::nn::Module& model, const Ia3Config& config) {
  const auto layers = ia3_layers(model);
  if (layers.empty())
    throw ConfigError("the model has no (IA)3 layers to save", dir.string(),
                      "a model prepared by apply_ia3() or load_ia3_adapter()");
  // The saved config must rebuild these layers on load: the same targets, each on the same side.
  std::vector<std::string> wrapped;
  for (auto& [name, layer] : layers) {
    wrapped.push_back(name);
    if (!is_ia3_target(name, config) || is_ia3_feedforward(name, config) != layer->is_feedforward)
      throw ConfigError("(IA)3 layer " + name + (layer->is_feedforward ? " (feed-forward)" : " (output side)") +
                            " is not what the config makes of it",
                        (dir / "adapter_config.json").string(), "the Ia3Config the model was prepared with");
  }
  for (const auto& item : model.named_modules("", /*include_self=*/false))
    if (is_ia3_target(item.key(), config) && std::find(wrapped.begin(), wrapped.end(), item.key()) == wrapped.end())
      throw ConfigError("the config targets " + item.key() + ", which has no (IA)3 layer",
                        (dir / "adapter_config.json").string(), "the Ia3Config the model was prepared with");
  io::NamedTensors tensors;
  for (auto& [name, t] : saved_parameters(model, is_ia3_parameter, config.modules_to_save))
    tensors.emplace_back(peft_saved_key(name), t);
  write_adapter_folder(dir, tensors, to_peft_json(config));
}

Ia3Config read_ia3_adapter_config(const fs::path& dir) {
  const fs::path file = dir / "adapter_config.json";
  return ia3_from_peft_json(io::read_json(file), file.string());
}

Ia3Config load_ia3_adapter(const fs::path& dir, torch::nn::Module& model) {
  expect_peft_type(dir, "IA3");
  Ia3Config config = read_ia3_adapter_config(dir);
  const fs::path weights = dir / "adapter_model.safetensors";
  io::SafetensorsFile file(weights);  // opened first: a bad file leaves the model untouched
  apply_ia3(model, config);
  std::map<std::string, torch::Tensor> into;
  for (auto& [name, t] : saved_parameters(model, is_ia3_parameter, config.modules_to_save))
    into[peft_saved_key(name)] = t;
  copy_adapter_tensors(file, into, weights);
  return config;
}

}  // namespace loraft::adapter
