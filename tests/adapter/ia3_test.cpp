// (IA)³ (PEFT 0.13.2 IA3Config(target_modules=["k_lin","v_lin","lin2"], feedforward_modules=["lin2"]))
// against the fixtures of methods/ia3/: loading PEFT's adapter reproduces its logits and hidden
// states, merging reproduces its merged checkpoint, saving writes its names and config, init,
// trainable parameters and counts are PEFT's, one training step's gradients are PEFT's, and the
// layer computes PEFT's formula (output side with the bias scaled; input side for lin2).
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "loraft/adapter/ia3.h"
#include "loraft/adapter/lora.h"
#include "loraft/adapter/peft_io.h"
#include "loraft/core/error.h"
#include "loraft/io/file.h"
#include "loraft/io/safetensors.h"
#include "loraft/model/pretrained.h"
#include "support/tensor_support.h"
#include "support/test_support.h"
#include "adapter_test_support.h"

namespace loraft::adapter {
namespace {

using io::Json;
using testing_support::expect_close;
using testing_support::expect_peft_accounting;
using testing_support::method_batch;
using testing_support::method_outputs;
using testing_support::sorted;
using testing_support::tiny_model;

const char* kDir = "methods/ia3";

std::filesystem::path fixture_path(const std::string& file) { return testing::fixture(std::string(kDir) + "/" + file); }

std::map<std::string, torch::Tensor> expected() { return io::load_safetensors(fixture_path("expected.safetensors")); }

Json ia3_json() { return io::read_json(fixture_path("ia3.json")); }

// Runs `f`, which must throw ConfigError; returns its message.
template <class F>
std::string config_error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError";
  return {};
}

TEST(Ia3Adapter, LoadingPeftsAdapterReproducesItsLogits) {
  auto m = tiny_model();
  Ia3Config c = load_ia3_adapter(fixture_path("adapter"), *m);
  EXPECT_EQ(sorted(c.target_modules), sorted({"k_lin", "lin2", "v_lin"}));
  EXPECT_EQ(c.feedforward_modules, std::vector<std::string>{"lin2"});
  EXPECT_EQ(c.base_model_name_or_path, "distilbert-tiny");
  Json ia3 = ia3_json();
  std::vector<std::string> layers;
  io::SafetensorsFile file(fixture_path("adapter/adapter_model.safetensors"));
  for (auto& [name, layer] : ia3_layers(*m)) {
    layers.push_back(peft_saved_key(name));
    // lin2 scales its input ([1, in]); k_lin and v_lin their output ([out, 1]).
    EXPECT_EQ(layer->is_feedforward, name.find(".ffn.lin2") != std::string::npos) << name;
    // The perturbed vectors are read from the file, not left at 1.
    EXPECT_TRUE(torch::equal(layer->ia3_l, file.tensor(peft_saved_key(name + ".ia3_l")))) << name;
  }
  EXPECT_EQ(layers, ia3["adapted_modules"].get<std::vector<std::string>>());
  auto e = expected();
  auto out = method_outputs(m);
  expect_close(out.logits, e.at("logits_adapter"), "logits_adapter");
  expect_close(out.logits, e.at("logits_reloaded"), "logits_reloaded");
  expect_close(out.last_hidden_state, e.at("last_hidden_state_adapter"), "last_hidden_state_adapter");
}

// get_peft_model: every vector at 1 (init.safetensors, named as PEFT's named_parameters()), the
// head copies equal to the heads, and the model's output the base model's (PEFT's
// logits_adapter_disabled).
TEST(Ia3Init, MatchesPeftsInitAndStartsAsTheBaseModel) {
  Json ia3 = ia3_json();
  Ia3Config c = ia3_from_peft_json(ia3["adapter_config_as_saved"], "ia3.json");
  auto m = tiny_model();
  const torch::Tensor base_logits = method_outputs(m).logits;
  expect_close(base_logits, expected().at("logits_adapter_disabled"), "logits_adapter_disabled");
  Ia3Injection injection = apply_ia3(*m, c);
  std::vector<std::string> targeted;
  for (const auto& name : injection.targeted) targeted.push_back(peft_saved_key(name));
  EXPECT_EQ(targeted, ia3["adapted_modules"].get<std::vector<std::string>>());
  EXPECT_EQ(injection.modules_to_save, (std::vector<std::string>{"pre_classifier", "classifier"}));
  auto init = io::load_safetensors(fixture_path("init.safetensors"));
  std::size_t compared = 0;
  for (auto& p : m->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    const std::string name = peft_runtime_name(p.key(), c);
    ASSERT_TRUE(init.count(name)) << name;
    EXPECT_TRUE(torch::equal(p.value(), init.at(name))) << name;
    ++compared;
  }
  EXPECT_EQ(compared, init.size());
  EXPECT_TRUE(torch::equal(method_outputs(m).logits, base_logits)) << "l = 1 exactly";
}

TEST(Ia3Counts, TrainableParametersAndCountsMatchPeft) {
  auto m = tiny_model();
  Ia3Config c = load_ia3_adapter(fixture_path("adapter"), *m);
  Json ia3 = ia3_json();
  expect_peft_accounting(*m, c.modules_to_save, ia3, [&](const std::string& n) { return peft_runtime_name(n, c); });
  // PEFT's named_parameters() order too, which the IA3 layers keep.
  std::vector<std::string> names, want;
  for (auto& p : m->named_parameters())
    if (p.value().requires_grad()) names.push_back(peft_runtime_name(p.key(), c));
  for (const auto& p : ia3["trainable_parameters"]) want.push_back(p["name"]);
  EXPECT_EQ(names, want);
}

TEST(Ia3Adapter, MergeAndUnloadMatchesPeftsMergedModel) {
  auto m = tiny_model();
  load_ia3_adapter(fixture_path("adapter"), *m);
  merge_and_unload_ia3(*m);
  EXPECT_TRUE(ia3_layers(*m).empty());
  auto e = expected();
  auto out = method_outputs(m);
  expect_close(out.logits, e.at("logits_merged"), "logits_merged");
  expect_close(out.last_hidden_state, e.at("last_hidden_state_merged"), "last_hidden_state_merged");
  auto merged = io::load_safetensors(fixture_path("merged/model.safetensors"));
  auto ours = model::state_dict(*m);
  std::vector<std::string> names;
  for (auto& [name, t] : ours) {
    names.push_back(name);
    ASSERT_TRUE(merged.count(name)) << name;
    expect_close(t, merged.at(name), name);
  }
  EXPECT_EQ(sorted(names), ia3_json()["merged_saved_tensor_names"].get<std::vector<std::string>>());
  // The output-side vector scales k_lin's bias; lin2's input-side vector leaves its bias alone.
  std::map<std::string, torch::Tensor> after, before;
  for (auto& [name, t] : ours) after[name] = t;
  for (auto& [name, t] : model::state_dict(*tiny_model())) before[name] = t;
  const std::string lin2 = "distilbert.transformer.layer.0.ffn.lin2.bias";
  const std::string k_lin = "distilbert.transformer.layer.0.attention.k_lin.bias";
  EXPECT_TRUE(torch::equal(after.at(lin2), before.at(lin2)));
  EXPECT_FALSE(torch::equal(after.at(k_lin), before.at(k_lin)));
}

TEST(Ia3Adapter, MergeThenUnmergeRestoresTheOutputsAndWeights) {
  auto m = tiny_model();
  load_ia3_adapter(fixture_path("adapter"), *m);
  const torch::Tensor before = method_outputs(m).logits;
  std::vector<torch::Tensor> weights, biases;
  for (auto& [name, layer] : ia3_layers(*m)) {
    weights.push_back(layer->base->weight.clone());
    biases.push_back(layer->base->bias.clone());
  }
  merge_ia3(*m);
  for (auto& [name, layer] : ia3_layers(*m)) EXPECT_TRUE(layer->merged()) << name;
  expect_close(method_outputs(m).logits, before, "merged");
  unmerge_ia3(*m);
  expect_close(method_outputs(m).logits, before, "unmerged");
  auto layers = ia3_layers(*m);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    EXPECT_FALSE(layers[i].second->merged());
    expect_close(layers[i].second->base->weight, weights[i], layers[i].first + ".weight after unmerge");
    expect_close(layers[i].second->base->bias, biases[i], layers[i].first + ".bias after unmerge");
  }
}

TEST(Ia3Adapter, SavedAdapterHasPeftsNamesAndConfigAndReloads) {
  auto m = tiny_model();
  Ia3Config c = load_ia3_adapter(fixture_path("adapter"), *m);
  testing::ScratchDir dir;
  save_ia3_adapter(dir.path(), *m, c);
  io::SafetensorsFile saved(dir / "adapter_model.safetensors");
  const Json ia3 = ia3_json();
  std::vector<std::string> want;
  for (const auto& [name, shape] : ia3["adapter_saved_tensors"].items()) {
    want.push_back(name);
    ASSERT_TRUE(saved.contains(name)) << name;
    EXPECT_EQ(saved.info(name).shape, shape.get<std::vector<std::int64_t>>()) << name;
  }
  EXPECT_EQ(sorted(saved.names()), sorted(want));
  EXPECT_EQ(saved.metadata().at("format"), "pt");
  io::SafetensorsFile peft(fixture_path("adapter/adapter_model.safetensors"));
  for (const auto& name : peft.names()) EXPECT_TRUE(torch::equal(saved.tensor(name), peft.tensor(name))) << name;
  // The same fields and values as PEFT's file; the module lists are sets there.
  Json ours = io::read_json(dir / "adapter_config.json");
  Json theirs = io::read_json(fixture_path("adapter/adapter_config.json"));
  for (auto* j : {&ours, &theirs})
    for (const char* key : {"target_modules", "feedforward_modules"})
      (*j)[key] = sorted((*j)[key].get<std::vector<std::string>>());
  EXPECT_EQ(ours, theirs);
  auto fresh = tiny_model();
  load_ia3_adapter(dir.path(), *fresh);
  EXPECT_TRUE(torch::equal(method_outputs(fresh).logits, method_outputs(m).logits));
  // A config that would not rebuild these layers is refused rather than saved.
  Ia3Config other = c;
  other.feedforward_modules.clear();
  testing::ScratchDir out;
  EXPECT_NE(config_error_of([&] { save_ia3_adapter(out.path(), *m, other); }).find("ffn.lin2"), std::string::npos);
  EXPECT_THROW(save_ia3_adapter(out.path(), *tiny_model(), c), ConfigError);
}

TEST(Ia3Adapter, LoraFoldersAreRefusedNamingBothMethods) {
  for (const char* folder : {"lora/adapter", "methods/dora/adapter"}) {
    auto m = tiny_model();
    const std::string what = config_error_of([&] { load_ia3_adapter(testing::fixture(folder), *m); });
    EXPECT_NE(what.find("LORA"), std::string::npos) << what;
    EXPECT_NE(what.find("IA3"), std::string::npos) << what;
    EXPECT_TRUE(ia3_layers(*m).empty()) << folder;
    EXPECT_TRUE(lora_layers(*m).empty()) << folder;
  }
  // And the other way round: LoRA's loader refuses the IA3 folder.
  const std::string what = config_error_of([&] { load_adapter(fixture_path("adapter"), *tiny_model()); });
  EXPECT_NE(what.find("IA3"), std::string::npos) << what;
}

TEST(Ia3Config, BadConfigsAreConfigErrors) {
  Ia3Config c;
  c.validate();
  Ia3Config no_targets = c;
  no_targets.target_modules.clear();
  EXPECT_NE(config_error_of([&] { no_targets.validate(); }).find("target_modules"), std::string::npos);
  // peft/tuners/ia3/config.py (0.13.2) IA3Config.__post_init__ raises for this.
  Ia3Config stray = c;
  stray.feedforward_modules = {"lin1"};
  EXPECT_NE(config_error_of([&] { stray.validate(); }).find("lin1"), std::string::npos);
  EXPECT_NE(config_error_of([&] { apply_ia3(*tiny_model(), stray); }).find("feedforward_modules"), std::string::npos);

  // adapter_config.json: each unsupported or broken field is refused, naming it.
  const Json good = io::read_json(fixture_path("adapter/adapter_config.json"));
  const auto with = [&](const char* key, const Json& value) {
    Json j = good;
    j[key] = value;
    return j;
  };
  const auto refused = [&](const Json& j, const std::string& named) {
    const std::string what = config_error_of([&] { ia3_from_peft_json(j, "adapter_config.json"); });
    EXPECT_NE(what.find(named), std::string::npos) << what;
  };
  refused(with("peft_type", "LORA"), "peft_type");
  refused(with("fan_in_fan_out", true), "fan_in_fan_out");
  refused(with("target_modules", ".*k_lin"), "target_modules");
  refused(with("target_modules", Json::array()), "target_modules");
  refused(with("feedforward_modules", Json::array({"lin1"})), "lin1");
  refused(with("init_ia3_weights", "yes"), "init_ia3_weights");
  refused(with("exclude_modules", Json::array({"q_lin"})), "exclude_modules");
  // PEFT's SEQ_CLS model trains and saves the heads whatever the file lists.
  Json no_heads = good;
  no_heads["modules_to_save"] = nullptr;
  EXPECT_EQ(ia3_from_peft_json(no_heads, "adapter_config.json").modules_to_save,
            (std::vector<std::string>{"classifier", "score"}));
  Json no_feedforward = good;
  no_feedforward.erase("feedforward_modules");
  refused(no_feedforward, "feedforward_modules");

  // Injection: no match, a target that is not a linear layer, a model already adapted.
  Ia3Config none = c;
  none.target_modules = none.feedforward_modules = {"nope"};
  EXPECT_NE(config_error_of([&] { apply_ia3(*tiny_model(), none); }).find("nope"), std::string::npos);
  Ia3Config attention = c;
  attention.target_modules = {"attention"};
  attention.feedforward_modules.clear();
  EXPECT_NE(config_error_of([&] { apply_ia3(*tiny_model(), attention); }).find("not a linear layer"),
            std::string::npos);
  auto twice = tiny_model();
  apply_ia3(*twice, c);
  EXPECT_NE(config_error_of([&] { apply_ia3(*twice, c); }).find("(IA)3"), std::string::npos);
  auto lora = tiny_model();
  load_adapter(testing::fixture("lora/adapter"), *lora);
  EXPECT_NE(config_error_of([&] { apply_ia3(*lora, c); }).find("LoRA"), std::string::npos);
}

// One training step's gradients (methods/ia3/train): the PEFT adapter loaded on the base without
// dropout, train mode, mean cross-entropy of the fixture batch; gradients named as PEFT names them.
TEST(Ia3Train, GradientsMatchPeft) {
  auto m = testing_support::tiny_model_without_dropout();
  Ia3Config c = load_ia3_adapter(fixture_path("adapter"), *m);
  const Json train = io::read_json(fixture_path("train/train.json"));
  auto step0 = io::load_safetensors(fixture_path("train/params_step0.safetensors"));
  std::vector<std::string> names;
  for (auto& p : m->named_parameters())
    if (p.value().requires_grad()) {
      names.push_back(peft_runtime_name(p.key(), c));
      ASSERT_TRUE(step0.count(names.back())) << names.back();
      EXPECT_TRUE(torch::equal(p.value(), step0.at(names.back()))) << names.back();
    }
  EXPECT_EQ(names, train["trainable_parameter_names"].get<std::vector<std::string>>());
  auto batch = method_batch();
  const torch::Tensor logits = m->forward(batch.at("input_ids"), batch.at("attention_mask"));
  const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, batch.at("labels"));
  const double want = train["loss"].get<double>();
  EXPECT_NEAR(loss.item<double>(), want, 1e-5 * want);
  loss.backward();
  auto grads = io::load_safetensors(fixture_path("train/grads.safetensors"));
  std::size_t compared = 0;
  for (auto& p : m->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    const std::string name = peft_runtime_name(p.key(), c);
    ASSERT_TRUE(grads.count(name)) << name;
    const torch::Tensor& e = grads.at(name);
    const double err = (p.value().grad() - e).abs().max().item<double>(), scale = e.abs().max().item<double>();
    EXPECT_LE(err, 1e-5 * scale + 1e-9) << name << " max abs diff " << err << " scale " << scale;
    ++compared;
  }
  EXPECT_EQ(compared, grads.size());
}

// One layer of each kind against PEFT 0.13.2 ia3.Linear.forward written out:
// output side y = (x Wᵀ + b) ⊙ l, so dL/dl = Σ dy ⊙ (x Wᵀ + b); input side y = (x ⊙ l) Wᵀ + b.
TEST(Ia3Layer, ComputesPeftsFormula) {
  auto m = tiny_model();
  load_ia3_adapter(fixture_path("adapter"), *m);
  torch::manual_seed(5);
  for (auto& [name, layer] : ia3_layers(*m)) {
    const torch::Tensor x = torch::randn({3, 7, layer->base->in_features});
    const torch::Tensor W = layer->base->weight, b = layer->base->bias, l = layer->ia3_l.detach().flatten();
    torch::Tensor y = layer->forward(x);
    if (!layer->is_feedforward) {
      EXPECT_EQ(layer->ia3_l.sizes(), (torch::IntArrayRef{layer->base->out_features, 1})) << name;
      const torch::Tensor base = torch::linear(x, W, b);
      expect_close(y, base * l, name + " forward");
      const torch::Tensor dy = torch::randn_like(y);
      (y * dy).sum().backward();
      expect_close(layer->ia3_l.grad().flatten(), (dy * base).sum(std::vector<std::int64_t>{0, 1}), name + " dL/dl");
    } else {
      EXPECT_EQ(layer->ia3_l.sizes(), (torch::IntArrayRef{1, layer->base->in_features})) << name;
      expect_close(y, torch::linear(x * l, W, b), name + " forward");
    }
  }
  // init_ia3_weights = false keeps PEFT's N(0, 1) draw.
  auto dense = std::make_shared<model::DenseImpl>(4, 3);
  auto random = std::make_shared<Ia3LinearImpl>(dense, /*is_feedforward=*/true, /*init_ones=*/false);
  EXPECT_EQ(random->ia3_l.sizes(), (torch::IntArrayRef{1, 4}));
  EXPECT_FALSE(torch::equal(random->ia3_l, torch::ones({1, 4})));
  std::ostringstream printed;
  random->pretty_print(printed);
  EXPECT_EQ(printed.str(), "Ia3Linear(in_features=4, out_features=3, feedforward=true)");
}

}  // namespace
}  // namespace loraft::adapter
