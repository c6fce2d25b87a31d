// Bottleneck adapters (adapters f0ca96200: DoubleSeqBnConfig = Houlsby, SeqBnConfig = Pfeiffer)
// against the fixtures of methods/bottleneck_{houlsby,pfeiffer}: loading the reference's saved
// adapter reproduces its logits, init and counts are the reference's, one step's gradients and
// 1 and 3 AdamW steps are the reference's, saving writes the reference's folder byte for byte,
// and other methods' folders and unsupported configs are refused.
#include <gtest/gtest.h>

#include <map>

#include "loraft/adapter/bottleneck.h"
#include "loraft/adapter/peft_io.h"
#include "loraft/core/error.h"
#include "loraft/io/file.h"
#include "loraft/io/safetensors.h"
#include "support/tensor_support.h"
#include "support/test_support.h"
#include "adapter_test_support.h"

namespace loraft::adapter {
namespace {

using io::Json;
using testing_support::expect_close;
using testing_support::method_batch;
using testing_support::method_outputs;
using testing_support::tiny_model;

class Bottleneck : public ::testing::TestWithParam<const char*> {
 protected:
  std::filesystem::path path(const std::string& file) const {
    return testing::fixture(std::string("methods/") + GetParam() + "/" + file);
  }
  Json info() const { return io::read_json(path(std::string(GetParam()) + ".json")); }
};

std::map<std::string, torch::Tensor> adapter_parameters(model::DistilBertForSequenceClassification& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m->named_parameters())
    if (p.key().find(".adapters.bottleneck.") != std::string::npos) out.emplace(p.key(), p.value());
  return out;
}

std::vector<std::string> trainable_names(model::DistilBertForSequenceClassification& m) {
  std::vector<std::string> out;
  for (const auto& p : m->named_parameters())
    if (p.value().requires_grad()) out.push_back(p.key());
  return out;
}

torch::Tensor loss_of(model::DistilBertForSequenceClassification& m) {
  auto batch = method_batch();
  return torch::nn::functional::cross_entropy(m->forward(batch.at("input_ids"), batch.at("attention_mask")),
                                              batch.at("labels"));
}

TEST_P(Bottleneck, LoadingTheReferenceFolderReproducesItsLogits) {
  auto m = tiny_model();
  const BottleneckConfig c = load_bottleneck_adapter(path("adapter"), *m);
  const Json cfg = info()["config"];
  EXPECT_EQ(to_string(c.variant), std::string(GetParam()).substr(std::string("bottleneck_").size()));
  EXPECT_EQ(c.reduction_factor, cfg["reduction_factor"].get<std::int64_t>());
  EXPECT_EQ(c.non_linearity_name(), cfg["non_linearity"].get<std::string>());
  EXPECT_EQ(c.adapter_name, "bottleneck");
  EXPECT_EQ(c.model_name, "distilbert-tiny");
  auto e = io::load_safetensors(path("expected.safetensors"));
  auto out = method_outputs(m);
  expect_close(out.logits, e.at("logits_reloaded"), "logits");
  expect_close(out.last_hidden_state, e.at("last_hidden_state_adapter"), "last hidden state");
  // The adapter matters: the base with the folder's head alone gives the reference's logits
  // with the adapter deactivated (set_active_adapters(None)).
  auto plain = tiny_model();
  {
    torch::NoGradGuard no_grad;
    auto head = io::load_safetensors(path("adapter/model_head.safetensors"));
    for (const auto& p : plain->named_parameters())
      if (head.count(p.key())) p.value().copy_(head.at(p.key()));
  }
  expect_close(method_outputs(plain).logits, e.at("logits_adapter_disabled"), "logits without adapter");
}

// add_adapter after torch.manual_seed(init_seed): nn.Linear default init then N(0, 0.02²)
// weights and zero biases, drawn in the reference's order.
TEST_P(Bottleneck, InitIsTheReferencesDraw) {
  auto m = tiny_model();
  BottleneckConfig c;
  c.variant = parse_bottleneck_variant(std::string(GetParam()).substr(std::string("bottleneck_").size()), "test");
  apply_bottleneck(*m, c, info()["init_seed"].get<std::uint64_t>());
  auto init = io::load_safetensors(path("init.safetensors"));
  auto params = adapter_parameters(m);
  ASSERT_EQ(params.size(), init.size());
  for (const auto& [name, p] : params) {
    ASSERT_TRUE(init.count(name)) << name;
    expect_close(p, init.at(name), name);
  }
}

TEST_P(Bottleneck, CountsAndTrainableParametersAreTheReferences) {
  auto m = tiny_model();
  const BottleneckConfig c = load_bottleneck_adapter(path("adapter"), *m);
  const Json counts = info()["counts"];
  EXPECT_EQ(bottleneck_parameter_count(c, m->config.dim, m->config.n_layers), counts["adapter"].get<std::int64_t>());
  std::int64_t all = 0, trainable = 0;
  for (const auto& p : m->parameters()) {
    all += p.numel();
    if (p.requires_grad()) trainable += p.numel();
  }
  EXPECT_EQ(all, counts["all"].get<std::int64_t>());
  EXPECT_EQ(trainable, counts["trainable"].get<std::int64_t>());
  const Json listed = info()["trainable_parameters"];
  std::vector<std::string> want;
  for (const auto& t : listed) want.push_back(t["name"].get<std::string>());
  EXPECT_EQ(trainable_names(m), want);  // the adapter, then pre_classifier and classifier
  auto fresh = tiny_model();
  const BottleneckInjection r = apply_bottleneck(*fresh, c, 0);
  EXPECT_EQ(r.adapter_parameters, counts["adapter"].get<std::int64_t>());
  EXPECT_EQ(r.trainable_parameters, counts["trainable"].get<std::int64_t>());
  EXPECT_EQ(r.sites.size(), c.variant == BottleneckVariant::houlsby ? 4u : 2u);
}

// train/: the folder loaded on the base without dropout, train mode, mean cross-entropy.
TEST_P(Bottleneck, GradientsMatchTheReference) {
  auto m = testing_support::tiny_model_without_dropout();
  load_bottleneck_adapter(path("adapter"), *m);
  const Json train = io::read_json(path("train/train.json"));
  EXPECT_EQ(trainable_names(m), train["trainable_parameter_names"].get<std::vector<std::string>>());
  auto step0 = io::load_safetensors(path("train/params_step0.safetensors"));
  for (const auto& p : m->named_parameters()) {
    if (p.value().requires_grad()) {
      EXPECT_TRUE(torch::equal(p.value(), step0.at(p.key()))) << p.key();
    }
  }
  const torch::Tensor loss = loss_of(m);
  const double want = train["loss"].get<double>();
  EXPECT_NEAR(loss.item<double>(), want, 1e-5 * want);
  loss.backward();
  auto grads = io::load_safetensors(path("train/grads.safetensors"));
  std::size_t compared = 0;
  for (const auto& p : m->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    ASSERT_TRUE(grads.count(p.key())) << p.key();
    const torch::Tensor& e = grads.at(p.key());
    const double err = (p.value().grad() - e).abs().max().item<double>(), scale = e.abs().max().item<double>();
    EXPECT_LE(err, 1e-5 * scale + 1e-9) << p.key() << " max abs diff " << err << " scale " << scale;
    ++compared;
  }
  EXPECT_EQ(compared, grads.size());
}

// train/adamw: torch AdamW(lr 1e-3) with the reference's two Trainer groups, read from
// train.json (this test links no loraft optimizer; LibTorch's AdamW is torch's single-tensor
// update), the same batch each step.
TEST_P(Bottleneck, OneAndThreeAdamWStepsMatchTheReference) {
  auto m = testing_support::tiny_model_without_dropout();
  load_bottleneck_adapter(path("adapter"), *m);
  const Json setting = io::read_json(path("train/train.json"))["settings"]["adamw"];
  std::map<std::string, torch::Tensor> params;
  for (const auto& p : m->named_parameters()) params.emplace(p.key(), p.value());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (const auto& g : setting["param_groups"]) {
    std::vector<torch::Tensor> ps;
    for (const auto& n : g["params"]) ps.push_back(params.at(n.get<std::string>()));
    auto o = std::make_unique<torch::optim::AdamWOptions>(g["lr"].get<double>());
    o->betas({g["betas"][0].get<double>(), g["betas"][1].get<double>()})
        .eps(g["eps"].get<double>())
        .weight_decay(g["weight_decay"].get<double>());
    groups.emplace_back(ps, std::move(o));
  }
  torch::optim::AdamW opt(groups);
  const auto losses = setting["losses_before_each_step"];
  for (int step = 1; step <= 3; ++step) {
    opt.zero_grad();
    const torch::Tensor loss = loss_of(m);
    const double want = losses[step - 1].get<double>();
    EXPECT_NEAR(loss.item<double>(), want, 1e-5 * want) << "step " << step;
    loss.backward();
    opt.step();
    if (step == 2) continue;
    auto e = io::load_safetensors(path("train/adamw/params_step" + std::to_string(step) + ".safetensors"));
    ASSERT_EQ(e.size(), trainable_names(m).size());
    for (const auto& [name, t] : e)
      testing::expect_close(params.at(name), t, 1e-6, 1e-5, name + " after step " + std::to_string(step));
  }
}

// Saving what was loaded writes the reference's four files byte for byte.
TEST_P(Bottleneck, SavingWritesTheReferencesFolder) {
  auto m = tiny_model();
  const BottleneckConfig c = load_bottleneck_adapter(path("adapter"), *m);
  testing::ScratchDir dir;
  save_bottleneck_adapter(dir.path() / "adapter", *m, c);
  for (const char* f : {"adapter_config.json", "adapter.safetensors", "head_config.json", "model_head.safetensors"})
    EXPECT_EQ(io::read_file(dir.path() / "adapter" / f), io::read_file(path(std::string("adapter/") + f))) << f;
  auto again = tiny_model();
  load_bottleneck_adapter(dir.path() / "adapter", *again);
  EXPECT_TRUE(torch::equal(method_outputs(again).logits, method_outputs(m).logits));
}

INSTANTIATE_TEST_SUITE_P(Variants, Bottleneck, ::testing::Values("bottleneck_houlsby", "bottleneck_pfeiffer"));

// A PEFT folder loaded as a bottleneck adapter, and a bottleneck folder loaded as a PEFT method,
// are refused naming both methods, before the model changes.
TEST(BottleneckFolder, OtherMethodsFoldersAreRefusedNamingBoth) {
  for (const auto& [other, type] : std::vector<std::pair<std::string, std::string>>{
           {"lora/adapter", "LORA"}, {"methods/ia3/adapter", "IA3"}, {"methods/dora/adapter", "LORA"},
           {"methods/prompt_tuning_text/adapter", "PROMPT_TUNING"}}) {
    auto m = tiny_model();
    try {
      load_bottleneck_adapter(testing::fixture(other), *m);
      ADD_FAILURE() << other << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("is a " + type + " adapter, not BOTTLENECK"), std::string::npos) << e.what();
    }
    EXPECT_EQ(m->parameters().size(), tiny_model()->parameters().size()) << "the model is unchanged";
  }
  auto m = tiny_model();
  try {
    load_adapter(testing::fixture("methods/bottleneck_houlsby/adapter"), *m);
    ADD_FAILURE() << "a bottleneck folder loaded as LoRA";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("is a BOTTLENECK adapter, not LORA"), std::string::npos) << e.what();
  }
}

TEST(BottleneckConfig, UnsupportedSettingsAreConfigErrors) {
  const Json good = io::read_json(testing::fixture("methods/bottleneck_pfeiffer/adapter/adapter_config.json"));
  EXPECT_NO_THROW(bottleneck_from_adapters_json(good, "good"));
  for (const auto& [key, value] : std::vector<std::pair<std::string, Json>>{
           {"ln_after", true}, {"scaling", 2.0}, {"use_gating", true}, {"is_parallel", true},
           {"reduction_factor", 0.5}, {"reduction_factor", 0}, {"non_linearity", "mish"}, {"unknown", 1},
           {"mh_adapter", true}}) {
    Json bad = good;
    bad["config"][key] = value;
    EXPECT_THROW(bottleneck_from_adapters_json(bad, "bad"), ConfigError) << key << " = " << value.dump();
  }
  Json other_model = good;
  other_model["model_type"] = "bert";
  EXPECT_THROW(bottleneck_from_adapters_json(other_model, "bad"), ConfigError);
  BottleneckConfig c;
  c.reduction_factor = 0;
  EXPECT_THROW(c.validate(), ConfigError);
  c = BottleneckConfig{};
  c.non_linearity = "mish";
  EXPECT_THROW(c.validate(), ConfigError);
  EXPECT_THROW(parse_bottleneck_variant("parallel", "test"), ConfigError);
  auto m = tiny_model();
  apply_bottleneck(*m, BottleneckConfig{}, 1);
  EXPECT_THROW(apply_bottleneck(*m, BottleneckConfig{}, 1), ConfigError);
}

}  // namespace
}  // namespace loraft::adapter
