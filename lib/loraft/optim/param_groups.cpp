#include "loraft/optim/param_groups.h"

#include <unordered_set>

#include "loraft/core/error.h"

namespace loraft::optim {
namespace {

void collect(torch::nn::Module& module, const std::string& prefix,
             std::unordered_set<const void*>& seen, std::vector<NamedParameter>& out) {
  const bool layer_norm = dynamic_cast<torch::nn::LayerNormImpl*>(&module) != nullptr;
  const bool embedding = dynamic_cast<torch::nn::EmbeddingImpl*>(&module) != nullptr;
  // A module's own parameters come before its children's, as in PyTorch's named_parameters.
  for (auto& item : module.named_parameters(/*recurse=*/false)) {
    const torch::Tensor& t = item.value();
    if (!seen.insert(t.unsafeGetTensorImpl()).second) continue;
    if (!t.requires_grad()) continue;
    out.push_back({prefix + item.key(), t, layer_norm, embedding});
  }
  for (auto& child : module.named_children())
    collect(*child.value(), prefix + child.key() + ".", seen, out);
}

}  // namespace

std::vector<NamedParameter> trainable_parameters(torch::nn::Module& model) {
  std::vector<NamedParameter> out;
  std::unordered_set<const void*> seen;
  collect(model, "", seen, out);
  return out;
}

bool trainer_decays(const NamedParameter& p) {
  return !p.in_layer_norm && p.name.find("bias") == std::string::npos;
}

std::vector<ParamGroup> trainer_param_groups(const std::vector<NamedParameter>& params,
                                             double lr, double weight_decay) {
  ParamGroup decay{"decay", {}, lr, lr, weight_decay};
  ParamGroup no_decay{"no_decay", {}, lr, lr, 0.0};
  for (const auto& p : params) (trainer_decays(p) ? decay : no_decay).params.push_back(p);
  return {decay, no_decay};
}

std::vector<ParamGroup> loraplus_param_groups(const std::vector<NamedParameter>& params,
                                              const LoraPlusOptions& o) {
  const bool faithful = o.decay == LoraPlusDecay::peft_faithful;
  const double wd = faithful ? o.loraplus_weight_decay : o.weight_decay;
  const double lr_b = o.lr * o.ratio;
  ParamGroup a{"groupA", {}, o.lr, o.lr, wd};
  ParamGroup emb{"embedding", {}, o.lr_embedding, o.lr_embedding, wd};
  ParamGroup b{"groupB", {}, lr_b, lr_b, wd};
  ParamGroup b_no_decay{"groupB_no_decay", {}, lr_b, lr_b, 0.0};
  // peft/optimizers/loraplus.py (v0.13.2), create_loraplus_optimizer: the branch order below.
  for (const auto& p : params) {
    if (!faithful && p.in_embedding) {
      emb.params.push_back(p);
    } else if (p.name.find("lora_B") != std::string::npos || p.tensor.dim() == 1) {
      (trainer_decays(p) ? b : b_no_decay).params.push_back(p);
    } else {
      a.params.push_back(p);
    }
  }
  return {a, emb, b, b_no_decay};
}

const char* to_string(LoraPlusDecay mode) {
  return mode == LoraPlusDecay::peft_faithful ? "peft_faithful" : "corrected";
}

LoraPlusDecay parse_loraplus_decay(const std::string& name, const std::string& where) {
  if (name == "peft_faithful") return LoraPlusDecay::peft_faithful;
  if (name == "corrected") return LoraPlusDecay::corrected;
  throw ConfigError("unknown LoRA+ decay mode \"" + name + "\"", where, "peft_faithful or corrected");
}

}  // namespace loraft::optim
