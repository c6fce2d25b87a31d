// The dist component alone: torchrun's variables, and two ranks as two threads of this process
// meeting through a FileStore (Gloo): the flat gradient sum, agreement checks, errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <functional>
#include <thread>

#include "loraft/dist/process_group.h"
#include "support/test_support.h"

namespace loraft::dist {
namespace {

TEST(DistConfig, ReadsTorchrunsVariablesAndRefusesNonsense) {
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("RANK", "3", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  ::setenv("MASTER_ADDR", "10.0.0.1", 1);
  ::setenv("MASTER_PORT", "29999", 1);
  DistConfig c = DistConfig::from_environment(DistConfig{});
  EXPECT_EQ(c.world_size, 4);
  EXPECT_EQ(c.rank, 3);
  EXPECT_EQ(c.local_rank, 1);
  EXPECT_EQ(c.master_addr, "10.0.0.1");
  EXPECT_EQ(c.master_port, 29999);
  EXPECT_TRUE(c.enabled());
  EXPECT_NO_THROW(c.validate());
  ::setenv("RANK", "three", 1);
  EXPECT_THROW(DistConfig::from_environment(DistConfig{}), ConfigError);
  for (const char* v : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(v);
  EXPECT_FALSE(DistConfig::from_environment(DistConfig{}).enabled());

  auto refused = [](std::function<void(DistConfig&)> change) {
    DistConfig d;
    change(d);
    EXPECT_THROW(d.validate(), ConfigError);
  };
  refused([](DistConfig& d) { d.world_size = 0; });
  refused([](DistConfig& d) { d.world_size = 2, d.rank = 2; });
  refused([](DistConfig& d) { d.rank = -1; });
  refused([](DistConfig& d) { d.master_port = 70000; });
  refused([](DistConfig& d) { d.timeout_s = 0; });
  refused([](DistConfig& d) { d.backend = "mpi"; });
  EXPECT_TRUE(backend_available("gloo"));
}

// Runs `body(group)` on ranks 0 and 1, each in its own thread with its own group.
void two_ranks(const testing::ScratchDir& dir, const std::function<void(ProcessGroup&)>& body) {
  std::exception_ptr errors[2];
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      try {
        DistConfig c;
        c.world_size = 2;
        c.rank = r;
        c.store_file = (dir / "store").string();
        c.timeout_s = 10;
        ProcessGroup group(c, torch::kCPU);
        body(group);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

TEST(ProcessGroup, SumsGradientsInOneBufferAndLeavesUntouchedParametersWithout) {
  testing::ScratchDir dir;
  torch::Tensor results[2][3];
  double losses[2];
  two_ranks(dir, [&](ProcessGroup& g) {
    const double r = static_cast<double>(g.rank());
    std::vector<torch::Tensor> params;
    for (int i = 0; i < 3; ++i) params.push_back(torch::zeros({2, 3}, torch::requires_grad()));
    params[0].mutable_grad() = torch::full({2, 3}, r + 1);  // 1 and 2: sum 3
    if (g.rank() == 1) params[1].mutable_grad() = torch::arange(6, torch::kFloat32).view({2, 3});  // one rank only
    // params[2]: no rank has a gradient
    std::vector<double> extra{0.25 * (r + 1)};
    all_reduce_gradients(g, params, extra, "the test's sum");
    for (int i = 0; i < 3; ++i) results[g.rank()][i] = params[i].grad().defined() ? params[i].grad().clone() : torch::Tensor();
    losses[g.rank()] = extra[0];
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(torch::equal(results[r][0], torch::full({2, 3}, 3.0f)));
    ASSERT_TRUE(results[r][1].defined()) << "a gradient on one rank is a gradient on all";
    EXPECT_TRUE(torch::equal(results[r][1], torch::arange(6, torch::kFloat32).view({2, 3})));
    EXPECT_FALSE(results[r][2].defined()) << "no rank had one: AdamW must skip it as in one process";
    EXPECT_DOUBLE_EQ(losses[r], 0.75);
  }
}

TEST(ProcessGroup, RanksThatDisagreeFailOnEveryRankNamingTheValues) {
  testing::ScratchDir dir;
  std::string messages[2];
  two_ranks(dir, [&](ProcessGroup& g) {
    g.check_agreement("the seed", "42");  // equal: passes
    try {
      g.check_agreement("the model", g.rank() == 0 ? "aaaa" : "bbbb");
    } catch (const DistError& e) {
      messages[g.rank()] = e.what();
    }
  });
  for (const auto& m : messages) EXPECT_NE(m.find("the model differs between ranks: rank 0 has aaaa, rank 1 has bbbb"), std::string::npos) << m;
}

}  // namespace
}  // namespace loraft::dist
