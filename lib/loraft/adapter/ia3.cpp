#include "loraft/adapter/ia3.h"

#include <algorithm>
#include <map>

#include "loraft/adapter/lora.h"
#include "loraft/core/error.h"
#include "loraft/core/strings.h"

namespace loraft::adapter {
// peft/tuners/tuners_utils.py (0.13.2) check_target_module_exists with a list of names: the whole
// dotted name, or a suffix after a dot. IA3Config has no layers_to_transform, so no layer filter.
bool is_ia3_target(const std::string& name, const Ia3Config& c) {
  return std::any_of(c.target_modules.begin(), c.target_modules.end(),
                     [&](const std::string& t) { return name == t || ends_with(name, "." + t); });
}

// peft/tuners/ia3/model.py (0.13.2) IA3Model._check_target_module_feedforward with a list:
// `key.endswith(target_key)`, a plain suffix without a dot (unlike the target match above).
bool is_ia3_feedforward(const std::string& name, const Ia3Config& c) {
  return std::any_of(c.feedforward_modules.begin(), c.feedforward_modules.end(),
                     [&](const std::string& f) { return ends_with(name, f); });
}

Ia3LinearImpl::Ia3LinearImpl(std::shared_ptr<model::DenseImpl> base_layer, bool feedforward, bool init_ones)
    : base(std::move(base_layer)), is_feedforward(feedforward) {
  register_parameter("weight", base->weight, /*requires_grad=*/false);
  if (base->bias.defined()) register_parameter("bias", base->bias, /*requires_grad=*/false);
  // peft/tuners/ia3/layer.py (0.13.2) IA3Layer.update_layer: torch.randn((1, in)) when
  // feed-forward, else torch.randn((out, 1)); reset_ia3_parameters then sets it to 1
  // (init_ia3_weights=True); _move_adapter_to_device_of_base_layer gives it W's dtype and device.
  const std::vector<std::int64_t> shape = is_feedforward ? std::vector<std::int64_t>{1, base->in_features}
                                                         : std::vector<std::int64_t>{base->out_features, 1};
  torch::Tensor l = init_ones ? torch::ones(shape) : torch::randn(shape);
  ia3_l = register_parameter("ia3_l", l.to(base->weight.options()), /*requires_grad=*/true);
}

torch::Tensor Ia3LinearImpl::forward(const torch::Tensor& input) {
  if (merged_) return base->forward(input);
  // peft/tuners/ia3/layer.py (0.13.2) Linear.forward: ia3_scaling = ia3_l.flatten();
  // feed-forward: base_layer((x * ia3_scaling).to(x.dtype)), the vector on the input side;
  // else: (base_layer(x) * ia3_scaling).to(result.dtype), the bias scaled with the rest.
  const torch::Tensor scaling = ia3_l.flatten();
  if (is_feedforward) return base->forward((input * scaling).to(input.scalar_type()));
  const torch::Tensor result = base->forward(input);
  return (result * scaling).to(result.scalar_type());
}

void Ia3LinearImpl::pretty_print(std::ostream& stream) const {
  stream << "Ia3Linear(in_features=" << base->in_features << ", out_features=" << base->out_features
         << ", feedforward=" << (is_feedforward ? "true" : "false") << ")";
}

void Ia3LinearImpl::merge() {
  if (merged_) return;
  torch::NoGradGuard no_grad;
  // peft/tuners/ia3/layer.py (0.13.2) Linear.merge (safe_merge=False, fan_in_fan_out=False):
  // W = W * ia3_l, broadcasting [out, 1] over rows or [1, in] over columns; bias = bias *
  // ia3_l.reshape(bias.shape) only when not feed-forward (an input scale leaves the bias alone).
  base->weight.copy_((base->weight * ia3_l).to(base->weight.dtype()));
  if (!is_feedforward && base->bias.defined())
    base->bias.copy_((base->bias * ia3_l.reshape(base->bias.sizes())).to(base->bias.dtype()));
  merged_ = true;
}

void Ia3LinearImpl::unmerge() {
  if (!merged_) return;
  torch::NoGradGuard no_grad;
  // peft/tuners/ia3/layer.py (0.13.2) Linear.unmerge: W = W / (ia3_l + 1e-8) and, when not
  // feed-forward, bias = bias / (ia3_l + 1e-8) ("Unmerge result can be inaccurate for (IA)^3").
  constexpr double kTolerance = 1e-8;  // PEFT's guard against division by zero
  base->weight.copy_((base->weight / (ia3_l + kTolerance)).to(base->weight.dtype()));
  if (!is_feedforward && base->bias.defined())
    base->bias.copy_((base->bias / (ia3_l.reshape(base->bias.sizes()) + kTolerance)).to(base->bias.dtype()));
  merged_ = false;
}

Ia3Injection apply_ia3(torch::nn::Module& model, const Ia3Config& config) {
  config.validate();
  if (!lora_layers(model).empty())
    throw ConfigError("the model already has LoRA layers", "apply_ia3", "a plain model");
  if (!ia3_layers(model).empty())
    throw ConfigError("the model already has (IA)3 layers", "apply_ia3", "a plain model");
  std::map<std::string, std::shared_ptr<model::LinearLayer>> linear;
  for (auto& [name, layer] : model::linear_layers(model)) linear.emplace(name, layer);
  Ia3Injection report;
  // Every module below the root with its dotted name, pre-order, as PyTorch's named_modules()
  // (peft/tuners/tuners_utils.py (0.13.2) BaseTuner.inject_adapter walks the same list).
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const std::string& name = item.key();
    if (!is_ia3_target(name, config)) continue;
    if (!linear.count(name))
      throw ConfigError("target module " + name + " is not a linear layer", "Ia3Config.target_modules",
                        "names of Linear modules (k_lin, v_lin, lin2, ...)");
    report.targeted.push_back(name);
  }
  if (report.targeted.empty())
    throw ConfigError("no module of the model matches the target modules (" + join(config.target_modules) + ")",
                      "Ia3Config.target_modules", "e.g. q_lin, k_lin, v_lin, out_lin, lin1, lin2");

  // peft/utils/other.py (0.13.2) _set_trainable: the modules_to_save train in full.
  report.modules_to_save = freeze_all_but_modules_to_save(model, config.modules_to_save);
  for (const std::string& name : report.targeted) {
    auto dense = std::dynamic_pointer_cast<model::DenseImpl>(linear.at(name));
    if (!dense) throw ConfigError("cannot wrap " + name + ": not a plain dense layer", "apply_ia3");
    auto ia3 = std::make_shared<Ia3LinearImpl>(dense, is_ia3_feedforward(name, config), config.init_ia3_weights);
    model::replace_linear(model, name, ia3);
  }
  return report;
}

std::vector<std::pair<std::string, Ia3Linear>> ia3_layers(torch::nn::Module& model) {
  std::vector<std::pair<std::string, Ia3Linear>> out;
  for (auto& [name, layer] : model::linear_layers(model))
    if (auto ia3 = std::dynamic_pointer_cast<Ia3LinearImpl>(layer)) out.emplace_back(name, Ia3Linear(ia3));
  return out;
}

void merge_ia3(torch::nn::Module& model) {
  for (auto& [name, layer] : ia3_layers(model)) layer->merge();
}

void unmerge_ia3(torch::nn::Module& model) {
  for (auto& [name, layer] : ia3_layers(model)) layer->unmerge();
}

void merge_and_unload_ia3(torch::nn::Module& model) {
  for (auto& [name, layer] : ia3_layers(model)) {
    layer->merge();
    model::replace_linear(model, name, layer->base);
  }
}

}  // namespace loraft::adapter
