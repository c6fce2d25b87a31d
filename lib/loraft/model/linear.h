#pragma once
/// @file
/// @brief Replaceable linear layers: every `nn.Linear` of the reference model is a
/// LinearLayer held by a LinearHost, so that an adapter (LoRA) can swap any of them for a
/// wrapper with the same forward; see replace_linear().

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace loraft::model {

/// What every layer standing where transformers has an `nn.Linear` provides: a forward over
/// the last dimension. A LoRA wrapper derives from this, keeps the original layer as a child
/// and adds its own path; the owner keeps calling `forward` and never knows.
class LinearLayer : public torch::nn::Module {
 public:
  /// Maps [..., in_features] to [..., out_features].
  virtual torch::Tensor forward(const torch::Tensor& input) = 0;
};

/// The plain dense layer, `nn.Linear`: parameters `weight` [out, in] and `bias` [out] under
/// those names, y = x Wᵀ + b.
class DenseImpl : public LinearLayer {
 public:
  /// Parameters start at zero; init_weights() draws them as transformers does.
  DenseImpl(std::int64_t in_features, std::int64_t out_features);
  /// torch::linear(input, weight, bias), the kernel `nn.Linear` calls.
  torch::Tensor forward(const torch::Tensor& input) override;
  /// Prints `Dense(in_features=..., out_features=...)`.
  void pretty_print(std::ostream& stream) const override;

  std::int64_t in_features;   ///< input size
  std::int64_t out_features;  ///< output size
  torch::Tensor weight;       ///< [out_features, in_features]
  torch::Tensor bias;         ///< [out_features]
};
/// Holder of DenseImpl (`Dense(in, out)`).
TORCH_MODULE(Dense);

/// A module that owns LinearLayer children and can have them replaced.
///
/// A subclass registers each linear child with register_linear() from its initializer list,
/// passing the member that will hold it; replace_linear() then swaps both the registered
/// child (so that names and parameters follow) and that member (so that forward uses the new
/// layer).
class LinearHost : public torch::nn::Module {
 public:
  /// Replaces the linear child `name` (e.g. "q_lin") by `layer`. ConfigError if this module
  /// has no linear child of that name.
  void replace_linear(const std::string& name, std::shared_ptr<LinearLayer> layer);
  /// The names of this module's linear children, in registration order.
  std::vector<std::string> linear_names() const;

 protected:
  /// Registers `layer` as child `name` and remembers `slot` (the member being initialised
  /// with the return value) for replace_linear().
  std::shared_ptr<LinearLayer> register_linear(const std::string& name,
                                               std::shared_ptr<LinearLayer>& slot,
                                               std::shared_ptr<LinearLayer> layer);

 private:
  std::vector<std::pair<std::string, std::shared_ptr<LinearLayer>*>> slots_;
};

/// Every LinearLayer below `root` with its dotted name
/// (`distilbert.transformer.layer.0.attention.q_lin`, ..., `classifier`), in module order.
/// A replaced layer appears once, under its own name (its children are not listed).
std::vector<std::pair<std::string, std::shared_ptr<LinearLayer>>> linear_layers(torch::nn::Module& root);

/// Replaces the linear layer at dotted `name` below `root` (see LinearHost). This is how an
/// adapter injects itself:
/// @code
/// for (auto& [name, layer] : linear_layers(*model))
///   if (ends_with(name, "q_lin")) replace_linear(*model, name, std::make_shared<LoraLinear>(layer, r));
/// @endcode
/// ConfigError if there is no such linear layer.
void replace_linear(torch::nn::Module& root, const std::string& name,
                    std::shared_ptr<LinearLayer> layer);
/// A new Dense(in, out) as a LinearLayer, to register with LinearHost::register_linear().
std::shared_ptr<LinearLayer> dense(std::int64_t in_features, std::int64_t out_features);

}  // namespace loraft::model
