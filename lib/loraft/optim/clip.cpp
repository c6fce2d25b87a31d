#include "loraft/optim/clip.h"

#include <cmath>

namespace loraft::optim {
namespace {

torch::Tensor total_norm(const std::vector<torch::Tensor>& grads) {
  std::vector<torch::Tensor> norms;
  norms.reserve(grads.size());
  for (const auto& g : grads) norms.push_back(torch::norm(g.detach(), 2.0));
  return torch::norm(torch::stack(norms), 2.0);
}

std::vector<torch::Tensor> grads_of(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  return grads;
}

}  // namespace

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  auto grads = grads_of(params);
  if (grads.empty()) return 0.0;
  torch::Tensor norm = total_norm(grads);
  const double value = norm.item<double>();
  // A non-finite norm leaves the gradients as they are (torch scales them all to NaN), so that
  // the one that is not finite can be named; loraft never steps on them (optimizer_update).
  if (!std::isfinite(value)) return value;
  // torch/nn/utils/clip_grad.py (1.13.1): clip_coef = max_norm / (total_norm + 1e-6),
  // clamped to 1.0, multiplied into every gradient.
  torch::Tensor coef = torch::clamp(max_norm / (norm + 1e-6), c10::nullopt, 1.0);
  for (auto& g : grads) g.mul_(coef.to(g.device()));
  return value;
}

double grad_norm(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  auto grads = grads_of(params);
  return grads.empty() ? 0.0 : total_norm(grads).item<double>();
}

}  // namespace loraft::optim
