// One optimizer step from the reference's starting parameters and gradients must land on the
// reference's parameters after step 1 (lora/train/<setting>, full/<setting>): torch.optim.AdamW
// with the Trainer's groups, PEFT's LoRA+ groups, and the Trainer's clipping and schedule.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"
#include "loraft/optim/adamw.h"
#include "loraft/optim/clip.h"
#include "loraft/optim/schedule.h"
#include "support/test_support.h"

namespace loraft::optim {
namespace {

using io::Json;

struct Case {
  std::vector<NamedParameter> params;
  Json train;
};

// Parameters (leaf tensors requiring grad) from `start`, with gradients from `grads`, in the
// order of train.json's trainable_parameter_names.
Case load_case(const std::string& dir, const std::string& start) {
  Case c;
  c.train = io::read_json(testing::fixture(dir + "/train.json"));
  auto values = io::load_safetensors(testing::fixture(start));
  auto grads = io::load_safetensors(testing::fixture(dir + "/grads.safetensors"));
  for (const std::string name : c.train["trainable_parameter_names"]) {
    // In the PEFT model and in full fine-tuning, LayerNorm parameters are exactly those whose
    // module is named LayerNorm / *_layer_norm (DistilBERT's naming).
    const bool layer_norm = name.find("LayerNorm") != std::string::npos ||
                            name.find("layer_norm") != std::string::npos;
    const std::string key = values.count(name) ? name : name.substr(name.find('.') + 1);
    torch::Tensor p = values.at(values.count(name) ? name : key).clone().set_requires_grad(true);
    p.mutable_grad() = grads.at(name).clone();
    c.params.push_back({name, p, layer_norm, false});
  }
  return c;
}

// |got - expected| <= 1e-6 + 1e-5 |expected| elementwise, reporting the worst element.
void expect_params(const std::vector<NamedParameter>& params, const std::string& file) {
  auto expected = io::load_safetensors(testing::fixture(file));
  ASSERT_EQ(expected.size(), params.size()) << file;
  for (const auto& p : params) {
    const torch::Tensor& e = expected.at(p.name);
    torch::Tensor excess = (p.tensor.detach() - e).abs() - (1e-6 + 1e-5 * e.abs());
    EXPECT_LE(excess.max().item<double>(), 0.0)
        << file << ": " << p.name << " max abs diff "
        << (p.tensor.detach() - e).abs().max().item<double>();
  }
}

std::vector<ParamGroup> groups_for(const std::string& setting, const Case& c) {
  const Json& groups = c.train["settings"][setting]["param_groups"];
  const double lr = groups[0]["lr"];
  if (setting.rfind("loraplus", 0) == 0) {
    LoraPlusOptions o;
    o.lr = lr;
    o.ratio = groups[2]["lr"].get<double>() / lr;
    o.loraplus_weight_decay = groups[0]["weight_decay"];
    return loraplus_param_groups(c.params, o);
  }
  return trainer_param_groups(c.params, lr, groups[0]["weight_decay"]);
}

void check_step1(const std::string& dir, const std::string& start, const std::string& setting) {
  SCOPED_TRACE(dir + " " + setting);
  Case c = load_case(dir, start);
  AdamW opt(groups_for(setting, c));
  const Json& s = c.train["settings"][setting];
  if (!s["grad_norm_before_clip"].is_null()) {
    const double norm = clip_grad_norm(opt.parameters(), 1.0);
    EXPECT_NEAR(norm, s["grad_norm_before_clip"][0].get<double>(), 1e-5 * norm);
    LinearSchedule schedule(3, 0);  // get_linear_schedule_with_warmup(warmup=0, total=3)
    for (auto& g : opt.groups()) g.lr = g.initial_lr * schedule.factor();
  }
  for (std::size_t g = 0; g < opt.groups().size(); ++g)
    EXPECT_DOUBLE_EQ(opt.groups()[g].lr, s["lr_per_group_at_each_step"][0][g].get<double>());
  opt.step();
  expect_params(c.params, dir + "/" + setting + "/params_step1.safetensors");
}

TEST(AdamWFixture, LoraAllSettingsStepOne) {
  for (const char* setting : {"adamw", "loraplus", "loraplus_wd", "trainer_like"})
    check_step1("lora/train", "lora/train/params_step0.safetensors", setting);
}

TEST(AdamWFixture, FullFineTuningStepOne) {
  for (const char* setting : {"adamw", "trainer_like"})
    check_step1("full", "distilbert-tiny/model.safetensors", setting);
}

TEST(AdamWFixture, TrainerDecayListMatchesTheReference) {
  Case c = load_case("full", "distilbert-tiny/model.safetensors");
  std::vector<std::string> decayed;
  auto groups = trainer_param_groups(c.params, 1e-3, 0.01);
  for (const auto& p : groups[0].params) decayed.push_back(p.name);
  EXPECT_EQ(decayed, c.train["trainer_decay_parameter_names"].get<std::vector<std::string>>());
}

TEST(AdamW, StateRoundTripContinuesIdentically) {
  torch::manual_seed(0);
  auto make = [] {
    torch::Tensor p = torch::randn({3, 4}).set_requires_grad(true);
    return std::vector<ParamGroup>{{"g", {{"w", p, false, false}}, 1e-2, 1e-2, 0.1}};
  };
  auto g1 = make();
  auto g2 = make();
  g2[0].params[0].tensor.detach().copy_(g1[0].params[0].tensor.detach());
  AdamW a(g1), b(g2);
  torch::Tensor grad = torch::randn({3, 4});
  for (int i = 0; i < 2; ++i) {
    a.groups()[0].params[0].tensor.mutable_grad() = grad.clone();
    a.step();
  }
  b.groups()[0].params[0].tensor.detach().copy_(a.groups()[0].params[0].tensor.detach());
  b.load_state(a.state());
  a.groups()[0].params[0].tensor.mutable_grad() = grad.clone();
  b.groups()[0].params[0].tensor.mutable_grad() = grad.clone();
  a.step();
  b.step();
  EXPECT_TRUE(torch::equal(a.groups()[0].params[0].tensor, b.groups()[0].params[0].tensor));
  a.zero_grad();
  EXPECT_FALSE(a.groups()[0].params[0].tensor.grad().defined());
}

// Clipping scales by max_norm / (norm + 1e-6) (hand-computed here: gradients (3, 4) and (0),
// norm 5, max 1); a non-finite norm leaves every gradient as it was, so that the one at fault
// can be named.
TEST(ClipGradNorm, ScalesToTheMaximumAndLeavesNonFiniteGradientsAlone) {
  torch::Tensor a = torch::zeros({2}).set_requires_grad(true), b = torch::zeros({1}).set_requires_grad(true);
  a.mutable_grad() = torch::tensor({3.0f, 4.0f});
  b.mutable_grad() = torch::tensor({0.0f});
  EXPECT_DOUBLE_EQ(clip_grad_norm({a, b}, 1.0), 5.0);
  EXPECT_TRUE(torch::allclose(a.grad(), torch::tensor({3.0f, 4.0f}) / (5.0f + 1e-6f)));
  b.mutable_grad() = torch::tensor({std::numeric_limits<float>::quiet_NaN()});
  EXPECT_TRUE(std::isnan(clip_grad_norm({a, b}, 1.0)));
  EXPECT_TRUE(torch::allclose(a.grad(), torch::tensor({3.0f, 4.0f}) / (5.0f + 1e-6f))) << "unchanged";
  EXPECT_TRUE(std::isnan(b.grad().item<float>()));
}

}  // namespace
}  // namespace loraft::optim
