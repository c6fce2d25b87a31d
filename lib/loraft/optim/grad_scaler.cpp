#include "loraft/optim/grad_scaler.h"

namespace loraft::optim {

GradScaler::GradScaler(GradScalerOptions options) : options_(options), scale_(options.init_scale) {}

torch::Tensor GradScaler::scale_loss(const torch::Tensor& loss) const {
  // GradScaler.scale: outputs * self._scale (a float32 tensor).
  return loss * torch::tensor(static_cast<float>(scale_), loss.options().dtype(torch::kFloat32));
}

bool GradScaler::unscale(const std::vector<torch::Tensor>& params) const {
  // GradScaler.unscale_: inv_scale = self._scale.double().reciprocal().float(), then
  // _amp_foreach_non_finite_check_and_unscale_ (multiply; flag any inf or NaN).
  const float inv_scale = static_cast<float>(1.0 / static_cast<double>(static_cast<float>(scale_)));
  bool found_inf = false;
  torch::NoGradGuard no_grad;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    torch::Tensor g = p.grad();
    if (!torch::isfinite(g).all().item<bool>()) found_inf = true;
    g.mul_(inv_scale);
  }
  return found_inf;
}

void GradScaler::update(bool found_inf) {
  // _amp_update_scale_: back off on inf, else grow after growth_interval clean steps.
  if (found_inf) {
    scale_ *= options_.backoff_factor;
    growth_tracker_ = 0;
    return;
  }
  if (++growth_tracker_ == options_.growth_interval) {
    scale_ *= options_.growth_factor;
    growth_tracker_ = 0;
  }
}

void GradScaler::set_state(double scale, std::int64_t growth_tracker) {
  scale_ = scale;
  growth_tracker_ = growth_tracker;
}

}  // namespace loraft::optim
