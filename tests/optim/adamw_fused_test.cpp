// The fused AdamW update (AdamWOptions::fused) must give the per-operation path's float32
// results bit for bit: every size (LibTorch's kernels take a scalar path for the last
// elements of a tensor, the fused one a masked block), decayed and undecayed groups, several
// steps, and tensors it cannot fuse (non-contiguous, float64) next to ones it can.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "loraft/core/threads.h"
#include "loraft/optim/adamw.h"

namespace loraft::optim {
namespace {

// Two groups (weight decay 0.01 and 0) over parameters of the given sizes, from seed 0; one
// parameter is a transposed (non-contiguous) view and one is float64.
std::vector<ParamGroup> make_groups(const std::vector<std::int64_t>& sizes) {
  torch::manual_seed(0);
  ParamGroup decay{"decay", {}, 5e-5, 5e-5, 0.01}, no_decay{"no_decay", {}, 5e-5, 5e-5, 0.0};
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    torch::Tensor p = torch::randn({sizes[i]}).set_requires_grad(true);
    (i % 2 ? no_decay : decay).params.push_back({"p" + std::to_string(i), p, false, false});
  }
  decay.params.push_back({"t", torch::randn({24, 5}).t().set_requires_grad(true), false, false});
  no_decay.params.push_back({"d", torch::randn({19}, torch::kDouble).set_requires_grad(true), false, false});
  return {decay, no_decay};
}

// `steps` updates with the same seeded gradients; the parameters and moments afterwards.
std::vector<torch::Tensor> run(bool fused, const std::vector<std::int64_t>& sizes, int steps) {
  auto groups = make_groups(sizes);
  AdamWOptions options;
  options.fused = fused;
  AdamW optimizer(groups, options);
  torch::manual_seed(1);
  for (int step = 0; step < steps; ++step) {
    for (auto& g : optimizer.groups())
      for (auto& p : g.params) p.tensor.mutable_grad() = torch::randn_like(p.tensor) * 1e-2;
    optimizer.step();
  }
  std::vector<torch::Tensor> out = optimizer.parameters();
  for (const auto& [name, t] : optimizer.state()) out.push_back(t);
  return out;
}

void expect_bitwise_equal(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].sizes(), b[i].sizes()) << i;
    // Same bits, not just equal values: compare the raw bytes (a step count is a scalar).
    auto bytes = [](const torch::Tensor& t) { return t.contiguous().reshape({-1}).view(torch::kByte); };
    EXPECT_TRUE(torch::equal(bytes(a[i]), bytes(b[i])))
        << "tensor " << i << ": " << a[i].ne(b[i]).sum().item<std::int64_t>() << " elements differ";
  }
}

TEST(AdamWFused, EqualsThePerOperationPathBitForBit) {
  const std::vector<std::int64_t> sizes{1, 2, 7, 8, 9, 15, 16, 17, 31, 100, 768, 1000, 4095, 3072 * 4 + 3};
  expect_bitwise_equal(run(true, sizes, 3), run(false, sizes, 3));
}

// Large enough for the fused update to split the elements over threads (a thread's share
// ending inside a parameter).
TEST(AdamWFused, EqualsThePerOperationPathWhenSplitOverThreads) {
  const int before = num_threads();
  configure_threads(2);
  const std::vector<std::int64_t> sizes{300001, 5, 768 * 768 + 1, 3};
  expect_bitwise_equal(run(true, sizes, 2), run(false, sizes, 2));
  configure_threads(before);
}

}  // namespace
}  // namespace loraft::optim
