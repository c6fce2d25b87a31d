#include "loraft/adapter/lora_linear.h"

#include <cmath>

namespace loraft::adapter {

LoraLinearImpl::LoraLinearImpl(std::shared_ptr<model::DenseImpl> base_layer, std::int64_t rank,
                               double scale, double p)
    : base(std::move(base_layer)),
      lora_A(torch::nn::LinearOptions(base->in_features, rank).bias(false)),
      lora_B(torch::nn::LinearOptions(rank, base->out_features).bias(false)),
      dropout(torch::nn::DropoutOptions(p)),
      r(rank),
      scaling(scale) {
  register_parameter("weight", base->weight, /*requires_grad=*/false);
  if (base->bias.defined()) register_parameter("bias", base->bias, /*requires_grad=*/false);
  register_module("lora_A", lora_A);
  register_module("lora_B", lora_B);
  register_module("lora_dropout", dropout);
  torch::NoGradGuard no_grad;
  // peft/tuners/lora/layer.py (0.13.2) reset_lora_parameters, init_lora_weights=True:
  // kaiming_uniform_(A, a=sqrt(5)); zeros_(B).
  torch::nn::init::kaiming_uniform_(lora_A->weight, std::sqrt(5.0));
  torch::nn::init::zeros_(lora_B->weight);
  lora_A->weight.set_data(lora_A->weight.to(base->weight.options()));
  lora_B->weight.set_data(lora_B->weight.to(base->weight.options()));
}

torch::Tensor LoraLinearImpl::forward(const torch::Tensor& input) {
  torch::Tensor result = base->forward(input);
  if (merged_) return result;
  // peft/tuners/lora/layer.py (0.13.2) Linear.forward: result + lora_B(lora_A(dropout(x))) * scaling
  return result + lora_B->forward(lora_A->forward(dropout->forward(input))) * scaling;
}

void LoraLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "LoraLinear(in_features=" << base->in_features << ", out_features="
         << base->out_features << ", r=" << r << ", scaling=" << scaling << ")";
}

torch::Tensor LoraLinearImpl::delta_weight() const {
  torch::NoGradGuard no_grad;
  return torch::matmul(lora_B->weight.to(torch::kFloat32), lora_A->weight.to(torch::kFloat32)) *
         scaling;
}

void LoraLinearImpl::merge() {
  if (merged_) return;
  torch::NoGradGuard no_grad;
  base->weight.add_(delta_weight().to(base->weight.dtype()));
  merged_ = true;
}

void LoraLinearImpl::unmerge() {
  if (!merged_) return;
  torch::NoGradGuard no_grad;
  base->weight.sub_(delta_weight().to(base->weight.dtype()));
  merged_ = false;
}

}  // namespace loraft::adapter
