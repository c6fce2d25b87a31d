#pragma once
// Closeness of tensors in the tests: one rule everywhere, and a failure that names the worst
// element. Header-only, for the test programs that link LibTorch (the support library does not).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

namespace loraft::testing {

/// max |got - want| / max |want| over whole tensors, in float64 on the CPU (0 / 0 is 0).
inline double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
  auto g = got.detach().to(torch::kCPU, torch::kDouble), w = want.detach().to(torch::kCPU, torch::kDouble);
  const double scale = w.abs().max().item<double>();
  const double err = (g - w).abs().max().item<double>();
  return err == 0 ? 0.0 : err / std::max(scale, 1e-300);
}

/// Expects `got` and `want` of one shape with |got - want| <= atol + rtol * max |want| in every
/// element; a failure names `what`, the worst element's index, both values and the bound.
inline void expect_close(const torch::Tensor& got, const torch::Tensor& want, double atol, double rtol,
                         const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  if (got.numel() == 0) return;
  auto g = got.detach().to(torch::kCPU, torch::kDouble).flatten();
  auto w = want.detach().to(torch::kCPU, torch::kDouble).flatten();
  const double bound = atol + rtol * w.abs().max().item<double>();
  const auto diff = (g - w).abs();
  const std::int64_t worst = diff.argmax().item<std::int64_t>();
  const double err = diff[worst].item<double>();
  if (err <= bound) return;
  std::vector<std::int64_t> index(static_cast<std::size_t>(got.dim()));
  for (std::int64_t d = got.dim() - 1, rest = worst; d >= 0; --d) {
    index[static_cast<std::size_t>(d)] = rest % got.size(d);
    rest /= got.size(d);
  }
  std::ostringstream where;
  for (std::size_t d = 0; d < index.size(); ++d) where << (d ? "," : "") << index[d];
  ADD_FAILURE() << what << ": max |diff| " << err << " > " << bound << " (atol " << atol << ", rtol " << rtol
                << " x max|want|) at [" << where.str() << "]: got " << g[worst].item<double>() << ", want "
                << w[worst].item<double>();
}

}  // namespace loraft::testing
