#include "loraft/adapter/lora.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <regex>

#include "loraft/core/error.h"
#include "loraft/core/strings.h"

namespace loraft::adapter {
namespace {


std::string with_commas(std::int64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// Restores the default CPU generator when it goes out of scope.
class GeneratorStateGuard {
 public:
  GeneratorStateGuard() : state_(generator().get_state()) {}
  ~GeneratorStateGuard() { generator().set_state(state_); }

 private:
  static at::Generator generator() { return at::detail::getDefaultCPUGenerator(); }
  at::Tensor state_;
};

}  // namespace

bool is_lora_target(const std::string& name, const LoraConfig& c) {
  // peft/tuners/tuners_utils.py (0.13.2) check_target_module_exists.
  if (c.target_regex) return std::regex_match(name, compile_pattern(*c.target_regex, "target_modules"));
  if (std::find(c.target_modules.begin(), c.target_modules.end(), name) != c.target_modules.end())
    return true;
  bool found = std::any_of(c.target_modules.begin(), c.target_modules.end(),
                           [&](const std::string& t) { return ends_with(name, "." + t); });
  if (!found || c.layers_to_transform.empty()) return found;
  const std::regex pattern = compile_pattern(layers_regex(c.layers_pattern), "layers_pattern");
  std::smatch m;
  if (!std::regex_match(name, m, pattern)) return false;
  const std::string digits = m[m.size() - 1].str();  // the last group: layers_pattern may have its own
  std::int64_t index = -1;
  if (std::from_chars(digits.data(), digits.data() + digits.size(), index).ec != std::errc()) return false;
  return std::find(c.layers_to_transform.begin(), c.layers_to_transform.end(), index) !=
         c.layers_to_transform.end();
}

bool is_module_to_save(const std::string& name, const std::vector<std::string>& modules_to_save) {
  return std::any_of(modules_to_save.begin(), modules_to_save.end(),
                     [&](const std::string& t) { return ends_with(name, t); });
}

std::vector<std::string> freeze_all_but_modules_to_save(torch::nn::Module& model,
                                                        const std::vector<std::string>& modules_to_save) {
  for (auto& p : model.parameters()) p.set_requires_grad(false);
  std::vector<std::string> names;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (!is_module_to_save(item.key(), modules_to_save)) continue;
    names.push_back(item.key());
    for (auto& p : item.value()->parameters()) p.set_requires_grad(true);
  }
  return names;
}

LoraInjection apply_lora(torch::nn::Module& model, const LoraConfig& config, std::uint64_t seed) {
  config.validate();
  if (!lora_layers(model).empty())
    throw ConfigError("the model already has LoRA layers", "apply_lora", "a plain model");
  LoraInjection report;
  // Linear layers by name, to tell "not a linear layer" from "not found".
  std::vector<std::string> linear_names;
  for (auto& [name, layer] : model::linear_layers(model)) linear_names.push_back(name);
  // Every module below the root with its dotted name, pre-order, as PyTorch's named_modules().
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const std::string& name = item.key();
    if (!is_lora_target(name, config)) continue;
    if (std::find(linear_names.begin(), linear_names.end(), name) == linear_names.end())
      throw ConfigError("target module " + name + " is not a linear layer",
                        "LoraConfig.target_modules", "names of Linear modules (q_lin, v_lin, ...)");
    report.targeted.push_back(name);
  }
  if (report.targeted.empty())
    throw ConfigError("no module of the model matches the target modules (" +
                          (config.target_regex ? "regex " + *config.target_regex : join(config.target_modules)) + ")",
                      "LoraConfig.target_modules", "e.g. q_lin, k_lin, v_lin, out_lin, lin1, lin2");

  report.modules_to_save = freeze_all_but_modules_to_save(model, config.modules_to_save);
  {
    GeneratorStateGuard keep_caller_rng;
    torch::manual_seed(seed);
    auto layers = model::linear_layers(model);
    for (const std::string& name : report.targeted) {
      auto it = std::find_if(layers.begin(), layers.end(), [&](auto& l) { return l.first == name; });
      auto dense = std::dynamic_pointer_cast<model::DenseImpl>(it->second);
      if (!dense) throw ConfigError("cannot wrap " + name + ": not a plain dense layer", "apply_lora");
      auto lora = std::make_shared<LoraLinearImpl>(dense, config.r, config.scaling(),
                                                   config.lora_dropout, config.use_dora);
      model::replace_linear(model, name, lora);
    }
  }
  return report;
}

std::vector<std::pair<std::string, LoraLinear>> lora_layers(torch::nn::Module& model) {
  std::vector<std::pair<std::string, LoraLinear>> out;
  for (auto& [name, layer] : model::linear_layers(model))
    if (auto lora = std::dynamic_pointer_cast<LoraLinearImpl>(layer)) out.emplace_back(name, LoraLinear(lora));
  return out;
}

void merge_lora(torch::nn::Module& model) {
  for (auto& [name, layer] : lora_layers(model)) layer->merge();
}

void unmerge_lora(torch::nn::Module& model) {
  for (auto& [name, layer] : lora_layers(model)) layer->unmerge();
}

void merge_and_unload(torch::nn::Module& model) {
  for (auto& [name, layer] : lora_layers(model)) {
    layer->merge();
    model::replace_linear(model, name, layer->base);
  }
}

std::string PeftParameterCounts::line() const {
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.4f", all > 0 ? 100.0 * double(trainable) / double(all) : 0.0);
  return "trainable params: " + with_commas(trainable) + " || all params: " + with_commas(all) +
         " || trainable%: " + pct;
}

PeftParameterCounts peft_parameter_counts(torch::nn::Module& model, const std::vector<std::string>& modules_to_save) {
  PeftParameterCounts c;
  for (auto& p : model.parameters()) {
    c.all += p.numel();
    if (p.requires_grad()) c.trainable += p.numel();
  }
  // The copies PEFT keeps: each matching module once (not again for a matching child).
  std::vector<std::string> counted;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const std::string& name = item.key();
    if (!is_module_to_save(name, modules_to_save)) continue;
    if (std::any_of(counted.begin(), counted.end(),
                    [&](const std::string& parent) { return starts_with(name, parent + "."); }))
      continue;
    counted.push_back(name);
    for (auto& p : item.value()->parameters()) c.all += p.numel();
  }
  return c;
}

}  // namespace loraft::adapter
