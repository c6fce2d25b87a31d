#include "loraft/model/linear.h"

#include "loraft/core/error.h"

namespace loraft::model {

DenseImpl::DenseImpl(std::int64_t in_features_, std::int64_t out_features_)
    : in_features(in_features_),
      out_features(out_features_),
      weight(register_parameter("weight", torch::zeros({out_features_, in_features_}))),
      bias(register_parameter("bias", torch::zeros({out_features_}))) {}

torch::Tensor DenseImpl::forward(const torch::Tensor& input) {
  return torch::linear(input, weight, bias);
}

void DenseImpl::pretty_print(std::ostream& stream) const {
  stream << "Dense(in_features=" << in_features << ", out_features=" << out_features << ")";
}

std::shared_ptr<LinearLayer> LinearHost::register_linear(const std::string& name,
                                                         std::shared_ptr<LinearLayer>& slot,
                                                         std::shared_ptr<LinearLayer> layer) {
  slots_.emplace_back(name, &slot);
  return register_module(name, std::move(layer));
}

void LinearHost::replace_linear(const std::string& name, std::shared_ptr<LinearLayer> layer) {
  if (!layer) throw ConfigError("null replacement layer", name);
  for (auto& [slot_name, slot] : slots_) {
    if (slot_name == name) {
      *slot = replace_module(name, std::move(layer));
      return;
    }
  }
  throw ConfigError("no linear layer \"" + name + "\" in this module", this->name(),
                    "one of the names linear_names() lists");
}

std::vector<std::string> LinearHost::linear_names() const {
  std::vector<std::string> out;
  for (const auto& s : slots_) out.push_back(s.first);
  return out;
}

namespace {

void collect_linears(torch::nn::Module& module, const std::string& prefix,
                     std::vector<std::pair<std::string, std::shared_ptr<LinearLayer>>>& out) {
  for (const auto& child : module.named_children()) {
    const std::string name = prefix.empty() ? child.key() : prefix + "." + child.key();
    if (auto linear = std::dynamic_pointer_cast<LinearLayer>(child.value())) {
      out.emplace_back(name, linear);
    } else {
      collect_linears(*child.value(), name, out);
    }
  }
}

}  // namespace

std::vector<std::pair<std::string, std::shared_ptr<LinearLayer>>> linear_layers(torch::nn::Module& root) {
  std::vector<std::pair<std::string, std::shared_ptr<LinearLayer>>> out;
  collect_linears(root, "", out);
  return out;
}

void replace_linear(torch::nn::Module& root, const std::string& name,
                    std::shared_ptr<LinearLayer> layer) {
  torch::nn::Module* parent = &root;
  std::string rest = name;
  for (auto dot = rest.find('.'); dot != std::string::npos; dot = rest.find('.')) {
    const std::string head = rest.substr(0, dot);
    torch::nn::Module* next = nullptr;
    for (const auto& child : parent->named_children())
      if (child.key() == head) next = child.value().get();
    if (!next) throw ConfigError("no module \"" + head + "\" on the path", name, "a name linear_layers() lists");
    parent = next;
    rest = rest.substr(dot + 1);
  }
  auto* host = dynamic_cast<LinearHost*>(parent);
  if (!host) throw ConfigError("the parent module cannot replace its linear layers", name,
                               "a name linear_layers() lists");
  host->replace_linear(rest, std::move(layer));
}

std::shared_ptr<LinearLayer> dense(std::int64_t in_features, std::int64_t out_features) {
  return std::make_shared<DenseImpl>(in_features, out_features);
}

}  // namespace loraft::model
