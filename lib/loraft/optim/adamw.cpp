#include "loraft/optim/adamw.h"

#include <cmath>
#include <map>

#include "loraft/core/error.h"

namespace loraft::optim {

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options)
    : groups_(std::move(groups)), options_(options) {
  for (const auto& g : groups_) moments_.emplace_back(g.params.size());
}

void AdamW::step() {
  torch::NoGradGuard no_grad;
  const double b1 = options_.beta1, b2 = options_.beta2, eps = options_.eps;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& group = groups_[gi];
    for (std::size_t pi = 0; pi < group.params.size(); ++pi) {
      torch::Tensor p = group.params[pi].tensor;
      torch::Tensor grad = p.grad();
      if (!grad.defined()) continue;
      Moments& m = moments_[gi][pi];
      if (!m.exp_avg.defined()) {
        m.exp_avg = torch::zeros_like(p, torch::MemoryFormat::Preserve);
        m.exp_avg_sq = torch::zeros_like(p, torch::MemoryFormat::Preserve);
      }
      m.step += 1;
      // Same operations, in the same order and with the same double-precision scalars, as
      // _single_tensor_adamw, so that the float32 results agree to the last bit.
      p.mul_(1 - group.lr * group.weight_decay);
      m.exp_avg.mul_(b1).add_(grad, 1 - b1);
      m.exp_avg_sq.mul_(b2).addcmul_(grad, grad, 1 - b2);
      const double bias_correction1 = 1 - std::pow(b1, static_cast<double>(m.step));
      const double bias_correction2 = 1 - std::pow(b2, static_cast<double>(m.step));
      const double step_size = group.lr / bias_correction1;
      torch::Tensor denom = (m.exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(eps);
      p.addcdiv_(m.exp_avg, denom, -step_size);
    }
  }
}

void AdamW::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params)
      if (p.tensor.grad().defined()) p.tensor.mutable_grad().reset();
}

std::vector<torch::Tensor> AdamW::parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& g : groups_)
    for (const auto& p : g.params) out.push_back(p.tensor);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi)
    for (std::size_t pi = 0; pi < groups_[gi].params.size(); ++pi) {
      const Moments& m = moments_[gi][pi];
      if (!m.exp_avg.defined()) continue;
      const std::string& name = groups_[gi].params[pi].name;
      out.emplace_back(name + ".exp_avg", m.exp_avg);
      out.emplace_back(name + ".exp_avg_sq", m.exp_avg_sq);
      out.emplace_back(name + ".step", torch::tensor(m.step, torch::kInt64));
    }
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
  for (std::size_t gi = 0; gi < groups_.size(); ++gi)
    for (std::size_t pi = 0; pi < groups_[gi].params.size(); ++pi) {
      const NamedParameter& p = groups_[gi].params[pi];
      auto step = by_name.find(p.name + ".step");
      if (step == by_name.end()) {  // never stepped when saved
        moments_[gi][pi] = Moments{};
        continue;
      }
      Moments m;
      m.step = step->second.item<std::int64_t>();
      for (auto [key, slot] : {std::pair{".exp_avg", &m.exp_avg}, {".exp_avg_sq", &m.exp_avg_sq}}) {
        auto it = by_name.find(p.name + key);
        if (it == by_name.end())
          throw FormatError("optimizer state lacks " + p.name + key, "optimizer state",
                            "exp_avg and exp_avg_sq for every stepped parameter");
        if (it->second.sizes() != p.tensor.sizes())
          throw FormatError("optimizer state " + p.name + key + " has the wrong shape",
                            "optimizer state", "the parameter's shape");
        *slot = it->second.to(p.tensor.options()).clone();
      }
      moments_[gi][pi] = std::move(m);
    }
}

}  // namespace loraft::optim
