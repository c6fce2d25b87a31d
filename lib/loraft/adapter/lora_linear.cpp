#include "loraft/adapter/lora_linear.h"

#include <cmath>
#include <vector>

namespace loraft::adapter {
namespace {

// peft/tuners/lora/dora.py (0.13.2) DoraLinearLayer.get_weight_norm: `weight + scaling *
// lora_weight`, then `torch.linalg.norm(weight, dim=1)`: the 2-norm of each row of the [out, in]
// weight (over the input features), one value per output feature. fan_in_fan_out is False for
// every layer loraft wraps, so nothing is transposed.
torch::Tensor row_norms(const torch::Tensor& weight, const torch::Tensor& lora_weight, double scaling) {
  const torch::Tensor w = weight + scaling * lora_weight;
  const std::vector<std::int64_t> rows{1};
  return at::linalg_vector_norm(w, 2, rows).to(w.scalar_type());
}

}  // namespace

LoraLinearImpl::LoraLinearImpl(std::shared_ptr<model::DenseImpl> base_layer, std::int64_t rank,
                               double scale, double p, bool dora)
    : base(std::move(base_layer)),
      lora_A(torch::nn::LinearOptions(base->in_features, rank).bias(false)),
      lora_B(torch::nn::LinearOptions(rank, base->out_features).bias(false)),
      dropout(torch::nn::DropoutOptions(p)),
      r(rank),
      scaling(scale),
      use_dora(dora) {
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
  // peft/tuners/lora/layer.py (0.13.2) LoraLayer.update_layer calls dora_init after the A/B
  // init (no random draw): DoraLinearLayer.update_layer sets the magnitude to
  // get_weight_norm(W, B @ A, scaling), with B still zero the row norms of W.
  if (use_dora)
    lora_magnitude_vector = register_parameter("lora_magnitude_vector", weight_norm(), /*requires_grad=*/true);
}

torch::Tensor LoraLinearImpl::forward(const torch::Tensor& input) {
  torch::Tensor result = base->forward(input);
  if (merged_) return result;
  // peft/tuners/lora/layer.py (0.13.2) Linear.forward: result + lora_B(lora_A(dropout(x))) * scaling
  if (!use_dora) return result + lora_B->forward(lora_A->forward(dropout->forward(input))) * scaling;
  // DoRA branch of Linear.forward: x = dropout(x); result + DoraLinearLayer.forward(x), and
  // result.to(its own dtype). The base output keeps the undropped input, as in PEFT.
  const torch::Tensor x = dropout->forward(input);
  const torch::Tensor lora_result = lora_B->forward(lora_A->forward(x));
  const torch::Tensor weight = base->weight.to(x.scalar_type());
  torch::Tensor norm;
  {
    // peft/tuners/lora/dora.py (0.13.2) DoraLinearLayer.forward: lora_weight =
    // lora_B(lora_A(eye(in))).T (= B @ A); weight_norm = get_weight_norm(W, lora_weight.detach(),
    // scaling).detach(): recomputed every forward, no gradient through it (DoRA paper sec. 4.3).
    torch::NoGradGuard no_grad;
    const torch::Tensor eye = torch::eye(base->in_features, x.options());
    norm = row_norms(weight, lora_B->forward(lora_A->forward(eye)).t(), scaling);
  }
  // mag_norm_scale = (magnitude / weight_norm).view(1, -1);
  // result_dora = (mag_norm_scale - 1) * F.linear(x, W) + mag_norm_scale * lora_result * scaling
  const torch::Tensor mag_norm_scale = (lora_magnitude_vector / norm).view({1, -1});
  const torch::Tensor dora = (mag_norm_scale - 1) * torch::linear(x, weight) + mag_norm_scale * lora_result * scaling;
  return (result + dora).to(result.scalar_type());
}

void LoraLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "LoraLinear(in_features=" << base->in_features << ", out_features="
         << base->out_features << ", r=" << r << ", scaling=" << scaling
         << (use_dora ? ", use_dora=true" : "") << ")";
}

torch::Tensor LoraLinearImpl::delta_weight() const {
  torch::NoGradGuard no_grad;
  return torch::matmul(lora_B->weight.to(torch::kFloat32), lora_A->weight.to(torch::kFloat32)) *
         scaling;
}

torch::Tensor LoraLinearImpl::weight_norm() const {
  torch::NoGradGuard no_grad;
  // DoraLinearLayer.update_layer: lora_weight = lora_B @ lora_A, get_weight_norm(W, lora_weight, scaling).
  return row_norms(base->weight, torch::matmul(lora_B->weight, lora_A->weight), scaling);
}

void LoraLinearImpl::merge() {
  if (merged_) return;
  torch::NoGradGuard no_grad;
  const torch::Tensor delta = delta_weight().to(base->weight.dtype());
  if (!use_dora) {
    base->weight.add_(delta);
  } else {
    // peft/tuners/lora/layer.py (0.13.2) Linear.merge (safe_merge=False), DoRA: weight_norm =
    // get_weight_norm(W, delta, scaling=1) (delta already holds the scaling), cached for
    // unmerge; W = (m / weight_norm).view(-1, 1) * (W + delta). The bias is untouched.
    merged_norm_ = row_norms(base->weight, delta, 1.0);
    base->weight.copy_((lora_magnitude_vector / merged_norm_).view({-1, 1}) * (base->weight + delta));
  }
  merged_ = true;
}

void LoraLinearImpl::unmerge() {
  if (!merged_) return;
  torch::NoGradGuard no_grad;
  const torch::Tensor delta = delta_weight().to(base->weight.dtype());
  if (!use_dora) {
    base->weight.sub_(delta);
  } else {
    // peft/tuners/lora/layer.py (0.13.2) Linear.unmerge, DoRA: dora_factor = m / cached
    // weight_norm; W = W / dora_factor.view(-1, 1) - delta.
    base->weight.copy_(base->weight / (lora_magnitude_vector / merged_norm_).view({-1, 1}) - delta);
    merged_norm_ = torch::Tensor();
  }
  merged_ = false;
}

}  // namespace loraft::adapter
