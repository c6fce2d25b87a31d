// Learning-rate schedule and parameter-group rules against the reference's own records:
// linear_schedule.json (transformers' get_linear_schedule_with_warmup) and lora/train/train.json
// (the groups Trainer.create_optimizer and PEFT's create_loraplus_optimizer built), and the
// loss-scale rule of torch.cuda.amp.GradScaler, by hand.
#include <gtest/gtest.h>

#include "loraft/core/error.h"
#include "loraft/io/json.h"
#include "loraft/optim/grad_scaler.h"
#include "loraft/optim/param_groups.h"
#include "loraft/optim/schedule.h"
#include "support/test_support.h"

namespace loraft::optim {
namespace {

using io::Json;

TEST(LinearSchedule, MatchesTransformersForEveryRecordedSetting) {
  Json cases = io::read_json(testing::fixture("linear_schedule.json"));
  ASSERT_GE(cases.size(), 4u);
  for (const auto& c : cases) {
    const double base = c["base_lr"];
    const std::int64_t total = c["num_training_steps"], warmup = c["num_warmup_steps"];
    LinearSchedule schedule(total, warmup);
    const auto& expected = c["lr_used_at_optimizer_step"];
    for (std::size_t k = 0; k < expected.size(); ++k) {
      EXPECT_DOUBLE_EQ(base * schedule.factor(), expected[k].get<double>())
          << "total " << total << " warmup " << warmup << " step " << k;
      schedule.step();
    }
    EXPECT_DOUBLE_EQ(base * schedule.factor(), c["lr_after_last"].get<double>());
  }
}

TEST(LinearSchedule, RejectsNegativeCounts) {
  EXPECT_THROW(LinearSchedule(-1, 0), ConfigError);
  EXPECT_THROW(LinearSchedule(10, -2), ConfigError);
}

// The PEFT model's trainable parameters, with the shapes lora.json recorded. None of them is
// inside a LayerNorm or an Embedding module (only LoRA matrices and the two head Linears train).
std::vector<NamedParameter> lora_fixture_parameters() {
  Json lora = io::read_json(testing::fixture("lora/lora.json"));
  std::vector<NamedParameter> params;
  for (const auto& p : lora["trainable_parameters"]) {
    std::vector<int64_t> shape = p["shape"];
    params.push_back({p["name"], torch::zeros(shape), false, false});
  }
  return params;
}

void expect_groups_equal(const std::vector<ParamGroup>& got, const Json& expected,
                         const std::string& setting) {
  ASSERT_EQ(got.size(), expected.size()) << setting;
  for (std::size_t g = 0; g < got.size(); ++g) {
    SCOPED_TRACE(setting + " group " + std::to_string(g) + " (" + got[g].name + ")");
    EXPECT_DOUBLE_EQ(got[g].lr, expected[g]["lr"].get<double>());
    EXPECT_DOUBLE_EQ(got[g].weight_decay, expected[g]["weight_decay"].get<double>());
    std::vector<std::string> names;
    for (const auto& p : got[g].params) names.push_back(p.name);
    EXPECT_EQ(names, expected[g]["params"].get<std::vector<std::string>>());
  }
}

TEST(ParamGroups, TrainerRuleMatchesTheRecordedGroups) {
  Json train = io::read_json(testing::fixture("lora/train/train.json"));
  for (const char* setting : {"adamw", "trainer_like"}) {
    const Json& s = train["settings"][setting];
    double lr = s["param_groups"][0]["lr"], wd = s["param_groups"][0]["weight_decay"];
    expect_groups_equal(trainer_param_groups(lora_fixture_parameters(), lr, wd),
                        s["param_groups"], setting);
  }
}

TEST(ParamGroups, LoraPlusPeftFaithfulMatchesTheRecordedGroups) {
  Json train = io::read_json(testing::fixture("lora/train/train.json"));
  // create_loraplus_optimizer(lr=1e-3, loraplus_lr_ratio=2.0, weight_decay=0.01): the groups'
  // decay comes from loraplus_weight_decay (0.0 by default, 0.01 in "loraplus_wd").
  for (auto [setting, loraplus_wd] : {std::pair{"loraplus", 0.0}, {"loraplus_wd", 0.01}}) {
    const Json& s = train["settings"][setting];
    LoraPlusOptions o;
    o.lr = s["param_groups"][0]["lr"];
    o.ratio = s["param_groups"][2]["lr"].get<double>() / o.lr;
    o.weight_decay = 0.01;
    o.loraplus_weight_decay = loraplus_wd;
    expect_groups_equal(loraplus_param_groups(lora_fixture_parameters(), o), s["param_groups"],
                        setting);
  }
}

TEST(ParamGroups, LoraPlusCorrectedAppliesTheRunsDecayAndFindsEmbeddings) {
  auto params = lora_fixture_parameters();
  params.push_back({"word_embeddings.weight", torch::zeros({10, 4}), false, true});
  LoraPlusOptions o;
  o.lr = 1e-3;
  o.ratio = 16;
  o.weight_decay = 0.01;
  o.decay = LoraPlusDecay::corrected;
  auto groups = loraplus_param_groups(params, o);
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(groups[0].weight_decay, 0.01);
  EXPECT_EQ(groups[2].weight_decay, 0.01);
  EXPECT_EQ(groups[3].weight_decay, 0.0);
  EXPECT_DOUBLE_EQ(groups[2].lr, 16e-3);
  ASSERT_EQ(groups[1].params.size(), 1u);
  EXPECT_EQ(groups[1].params[0].name, "word_embeddings.weight");
  // Faithful mode never fills the embedding group (PEFT's attrgetter quirk).
  o.decay = LoraPlusDecay::peft_faithful;
  EXPECT_TRUE(loraplus_param_groups(params, o)[1].params.empty());
}

TEST(ParamGroups, TrainableParametersMarkLayerNormAndEmbeddingOwnersAndSkipFrozen) {
  struct Net : torch::nn::Module {
    torch::nn::Embedding emb{nullptr};
    torch::nn::LayerNorm ln{nullptr};
    torch::nn::Linear lin{nullptr};
    Net() {
      emb = register_module("emb", torch::nn::Embedding(5, 3));
      ln = register_module("ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({3})));
      lin = register_module("lin", torch::nn::Linear(3, 2));
      lin->bias.set_requires_grad(false);
    }
  } net;
  auto params = trainable_parameters(net);
  std::vector<std::string> names;
  for (auto& p : params) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"emb.weight", "ln.weight", "ln.bias", "lin.weight"}));
  EXPECT_TRUE(params[0].in_embedding);
  EXPECT_TRUE(params[1].in_layer_norm && params[2].in_layer_norm);
  EXPECT_FALSE(params[3].in_layer_norm || params[3].in_embedding);
  auto groups = trainer_param_groups(params, 1e-3, 0.01);
  EXPECT_EQ(groups[0].params.size(), 2u);  // emb.weight, lin.weight
  EXPECT_EQ(groups[1].params.size(), 2u);  // LayerNorm weight and bias
}

// GradScaler(init_scale=2**16, growth_interval=2000): unscale divides by the scale and flags
// inf/NaN; a flagged step halves the scale and resets the count; 2000 clean steps double it.
TEST(GradScaler, UnscalesDetectsOverflowAndAdaptsTheScale) {
  GradScaler scaler;
  EXPECT_EQ(scaler.scale(), 65536.0);
  torch::Tensor p = torch::zeros({3}, torch::requires_grad());
  torch::Tensor loss = (p * torch::tensor({1.0f, 2.0f, 3.0f})).sum();
  scaler.scale_loss(loss).backward();
  EXPECT_TRUE(torch::equal(p.grad(), torch::tensor({65536.0f, 131072.0f, 196608.0f})));
  EXPECT_FALSE(scaler.unscale({p}));
  EXPECT_TRUE(torch::equal(p.grad(), torch::tensor({1.0f, 2.0f, 3.0f})));
  scaler.update(false);
  EXPECT_EQ(scaler.growth_tracker(), 1);

  p.mutable_grad() = torch::tensor({1.0f, std::numeric_limits<float>::infinity(), 0.0f});
  EXPECT_TRUE(scaler.unscale({p}));
  scaler.update(true);
  EXPECT_EQ(scaler.scale(), 32768.0);
  EXPECT_EQ(scaler.growth_tracker(), 0);
  p.mutable_grad() = torch::tensor({std::nanf(""), 0.0f, 0.0f});
  EXPECT_TRUE(scaler.unscale({p}));

  for (int i = 0; i < 1999; ++i) scaler.update(false);
  EXPECT_EQ(scaler.scale(), 32768.0);
  scaler.update(false);
  EXPECT_EQ(scaler.scale(), 65536.0);
  EXPECT_EQ(scaler.growth_tracker(), 0);
  scaler.set_state(8.0, 7);
  EXPECT_EQ(scaler.scale(), 8.0);
  EXPECT_EQ(scaler.growth_tracker(), 7);
}

}  // namespace
}  // namespace loraft::optim
