// DoRA (PEFT 0.13.2 LoraConfig(use_dora=True)) against the fixtures of methods/dora/: loading
// PEFT's adapter reproduces its logits and hidden states, merging reproduces its merged
// checkpoint, saving writes its names and config, init and parameter counts are PEFT's, and the
// layer computes PEFT's formula (row norms of W + s·B·A, detached; the bias not rescaled;
// dropout on the adapter input only).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

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

const char* kDir = "methods/dora";

std::string fixture_path(const std::string& file) { return std::string(kDir) + "/" + file; }

using testing_support::expect_close;
using testing_support::expect_peft_accounting;
using testing_support::method_outputs;
using testing_support::sorted;
using testing_support::tiny_model;

std::map<std::string, torch::Tensor> expected() {
  return io::load_safetensors(testing::fixture(fixture_path("expected.safetensors")));
}

TEST(DoraAdapter, LoadingPeftsAdapterReproducesItsLogits) {
  auto m = tiny_model();
  LoraConfig c = load_adapter(testing::fixture(fixture_path("adapter")), *m);
  EXPECT_TRUE(c.use_dora);
  EXPECT_EQ(c.r, 4);
  EXPECT_DOUBLE_EQ(c.scaling(), 4.0);
  auto layers = lora_layers(*m);
  ASSERT_EQ(layers.size(), 4u);
  for (auto& [name, layer] : layers) EXPECT_TRUE(layer->use_dora) << name;
  auto e = expected();
  auto out = method_outputs(m);
  expect_close(out.logits, e.at("logits_adapter"), "logits_adapter");
  expect_close(out.logits, e.at("logits_reloaded"), "logits_reloaded");
  expect_close(out.last_hidden_state, e.at("last_hidden_state_adapter"), "last_hidden_state_adapter");
}

// The fixture's magnitudes were perturbed away from every norm: they must be read, not
// recomputed from W (as at init).
TEST(DoraAdapter, MagnitudeIsReadFromTheFileNotRecomputed) {
  auto m = tiny_model();
  load_adapter(testing::fixture(fixture_path("adapter")), *m);
  io::SafetensorsFile file(testing::fixture(fixture_path("adapter/adapter_model.safetensors")));
  for (auto& [name, layer] : lora_layers(*m)) {
    const std::string key = peft_saved_key(name + ".lora_magnitude_vector");
    ASSERT_TRUE(file.contains(key)) << key;
    EXPECT_TRUE(torch::equal(layer->lora_magnitude_vector, file.tensor(key))) << key;
    EXPECT_GT((layer->lora_magnitude_vector - layer->weight_norm()).abs().max().item<double>(), 1e-3) << name;
  }
}

TEST(DoraAdapter, MergeAndUnloadMatchesPeftsMergedModel) {
  auto m = tiny_model();
  load_adapter(testing::fixture(fixture_path("adapter")), *m);
  merge_and_unload(*m);
  EXPECT_TRUE(lora_layers(*m).empty());
  auto e = expected();
  auto out = method_outputs(m);
  expect_close(out.logits, e.at("logits_merged"), "logits_merged");
  expect_close(out.last_hidden_state, e.at("last_hidden_state_merged"), "last_hidden_state_merged");
  auto merged = io::load_safetensors(testing::fixture(fixture_path("merged/model.safetensors")));
  auto ours = model::state_dict(*m);
  ASSERT_EQ(ours.size(), merged.size());
  for (auto& [name, t] : ours) {
    ASSERT_TRUE(merged.count(name)) << name;
    expect_close(t, merged.at(name), name);
  }
  // PEFT's DoRA merge leaves the bias alone (dora.json checks.*_merged_bias_unchanged).
  std::map<std::string, torch::Tensor> after, before;
  for (auto& [name, t] : ours) after[name] = t;
  for (auto& [name, t] : model::state_dict(*tiny_model())) before[name] = t;
  for (const char* bias : {"distilbert.transformer.layer.0.attention.q_lin.bias",
                           "distilbert.transformer.layer.1.attention.v_lin.bias"})
    EXPECT_TRUE(torch::equal(after.at(bias), before.at(bias))) << bias;
}

TEST(DoraAdapter, MergeThenUnmergeRestoresTheOutputsAndWeights) {
  auto m = tiny_model();
  load_adapter(testing::fixture(fixture_path("adapter")), *m);
  torch::Tensor before = method_outputs(m).logits;
  std::vector<torch::Tensor> weights;
  for (auto& [name, layer] : lora_layers(*m)) weights.push_back(layer->base->weight.clone());
  merge_lora(*m);
  expect_close(method_outputs(m).logits, before, "merged");
  unmerge_lora(*m);
  expect_close(method_outputs(m).logits, before, "unmerged");
  auto layers = lora_layers(*m);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    EXPECT_FALSE(layers[i].second->merged());
    expect_close(layers[i].second->base->weight, weights[i], layers[i].first + ".weight after unmerge");
  }
}

TEST(DoraAdapter, SavedAdapterHasPeftsNamesAndConfigAndReloads) {
  auto m = tiny_model();
  LoraConfig c = load_adapter(testing::fixture(fixture_path("adapter")), *m);
  testing::ScratchDir dir;
  save_adapter(dir.path(), *m, c);
  Json dora = io::read_json(testing::fixture(fixture_path("dora.json")));
  io::SafetensorsFile saved(dir / "adapter_model.safetensors");
  std::vector<std::string> want;
  for (const auto& [name, shape] : dora["adapter_saved_tensors"].items()) {
    want.push_back(name);
    EXPECT_EQ(saved.info(name).shape, shape.get<std::vector<std::int64_t>>()) << name;
  }
  EXPECT_EQ(sorted(saved.names()), sorted(want));
  EXPECT_EQ(saved.metadata().at("format"), "pt");
  io::SafetensorsFile peft(testing::fixture(fixture_path("adapter/adapter_model.safetensors")));
  for (const auto& name : peft.names()) EXPECT_TRUE(torch::equal(saved.tensor(name), peft.tensor(name))) << name;
  // Same fields as PEFT's file (use_dora: true among them); target_modules compared as a set.
  Json ours = io::read_json(dir / "adapter_config.json");
  Json theirs = io::read_json(testing::fixture(fixture_path("adapter/adapter_config.json")));
  for (auto* j : {&ours, &theirs}) (*j)["target_modules"] = sorted((*j)["target_modules"].get<std::vector<std::string>>());
  EXPECT_EQ(ours, theirs);
  EXPECT_EQ(ours.at("use_dora"), true);
  auto fresh = tiny_model();
  load_adapter(dir.path(), *fresh);
  EXPECT_TRUE(torch::equal(method_outputs(fresh).logits, method_outputs(m).logits));
}

// get_peft_model after torch.manual_seed(init_seed): A kaiming-uniform from that seed (the same
// draws as LoRA), B zero, m the row norms of W; the model's output is the base model's.
TEST(DoraInit, MatchesPeftsInitAndStartsAsTheBaseModel) {
  Json dora = io::read_json(testing::fixture(fixture_path("dora.json")));
  LoraConfig c = from_peft_json(dora["adapter_config_as_saved"], "dora.json");
  auto m = tiny_model();
  torch::Tensor base_logits = method_outputs(m).logits;
  apply_lora(*m, c, dora["init_seed"].get<std::uint64_t>());
  auto init = io::load_safetensors(testing::fixture(fixture_path("init.safetensors")));
  std::size_t compared = 0;
  for (auto& p : m->named_parameters()) {
    if (!p.value().requires_grad() || p.key().find("lora_") == std::string::npos) continue;
    const std::string name = peft_runtime_name(p.key(), c);
    ASSERT_TRUE(init.count(name)) << name;
    expect_close(p.value(), init.at(name), name);
    ++compared;
  }
  EXPECT_EQ(compared, 12u);  // A, B, m of 4 layers
  for (auto& [name, layer] : lora_layers(*m)) {
    const torch::Tensor rows = layer->base->weight.norm(2, {1});
    expect_close(layer->lora_magnitude_vector, rows, name + " m = ||W|| per row");
  }
  EXPECT_TRUE(torch::equal(method_outputs(m).logits, base_logits)) << "m / n = 1 exactly while B = 0";
}

TEST(DoraCounts, TinyModelMatchesPeft) {
  auto m = tiny_model();
  LoraConfig c = load_adapter(testing::fixture(fixture_path("adapter")), *m);
  Json dora = io::read_json(testing::fixture(fixture_path("dora.json")));
  expect_peft_accounting(*m, c.modules_to_save, dora, [&](const std::string& n) { return peft_runtime_name(n, c); });
}

// One wrapped layer against the formula written out: y = base(x) + (m/n - 1) (x' Wᵀ) +
// (m/n) s B(A(x')), x' = dropout(x), n = ||W + s B A|| per row, detached. With p = 0 that is
// (m/n)(x Wᵀ + s x Aᵀ Bᵀ) + b. Gradients: n is a constant, so m's gradient is
// sum over rows of dy * (x Wᵀ + s x Aᵀ Bᵀ) / n.
TEST(DoraLayer, ComputesPeftsFormulaWithTheNormDetached) {
  auto m = tiny_model();
  load_adapter(testing::fixture(fixture_path("adapter")), *m);
  auto layer = lora_layers(*m).front().second;
  layer->train();
  torch::manual_seed(5);
  torch::Tensor x = torch::randn({3, 7, layer->base->in_features});
  const torch::Tensor W = layer->base->weight, b = layer->base->bias;
  const torch::Tensor A = layer->lora_A->weight.detach(), B = layer->lora_B->weight.detach();
  const double s = layer->scaling;
  const torch::Tensor n = (W + s * torch::matmul(B, A)).norm(2, {1});
  expect_close(layer->weight_norm(), n, "weight_norm");
  const torch::Tensor mag = layer->lora_magnitude_vector.detach();
  const torch::Tensor direction = torch::matmul(x, W.t()) + s * torch::matmul(torch::matmul(x, A.t()), B.t());
  const torch::Tensor want = (mag / n) * direction + b;
  torch::Tensor y = layer->forward(x);
  expect_close(y, want, "forward, dropout 0");
  const torch::Tensor dy = torch::randn_like(y);
  (y * dy).sum().backward();
  expect_close(layer->lora_magnitude_vector.grad(), (dy * direction / n).sum(std::vector<std::int64_t>{0, 1}), "dL/dm");
  // A's gradient through the lora branch only, (m/n) s B(A(x)): dL/dA = s Bᵀ (dy (m/n))ᵀ x.
  const torch::Tensor g = (dy * (mag / n)).reshape({-1, dy.size(-1)});
  const torch::Tensor want_dA = s * torch::matmul(torch::matmul(B.t(), g.t()), x.reshape({-1, x.size(-1)}));
  expect_close(layer->lora_A->weight.grad(), want_dA, "dL/dA (norm detached)");

  // Dropout: the base output keeps the undropped input; the DoRA terms take the dropped one.
  auto d = std::make_shared<LoraLinearImpl>(layer->base, 4, s, 0.5, /*use_dora=*/true);
  {
    torch::NoGradGuard no_grad;
    d->lora_A->weight.copy_(A);
    d->lora_B->weight.copy_(B);
    d->lora_magnitude_vector.copy_(mag);
  }
  d->train();
  torch::manual_seed(9);
  torch::Tensor got = d->forward(x);
  torch::manual_seed(9);
  const torch::Tensor xd = torch::dropout(x, 0.5, /*train=*/true);
  const torch::Tensor scale = mag / n;
  const torch::Tensor want_dropout = torch::linear(x, W, b) + (scale - 1) * torch::matmul(xd, W.t()) +
                                     scale * torch::matmul(torch::matmul(xd, A.t()), B.t()) * s;
  expect_close(got, want_dropout, "forward, dropout 0.5");
  std::ostringstream printed;
  d->pretty_print(printed);
  EXPECT_NE(printed.str().find("use_dora=true"), std::string::npos) << printed.str();
}

TEST(DoraAdapter, MismatchedFilesAndConfigsGiveOneClearError) {
  testing::ScratchDir dir;
  const auto copy_weights = [&](const std::string& adapter) {
    std::filesystem::copy_file(testing::fixture(adapter + "/adapter_model.safetensors"),
                               dir / "adapter_model.safetensors",
                               std::filesystem::copy_options::overwrite_existing);
  };
  const auto expect_format_error = [&](const std::string& list) {
    try {
      load_adapter(dir.path(), *tiny_model());
      ADD_FAILURE() << "loaded";
    } catch (const FormatError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(list + " [base_model.model.distilbert.transformer.layer."), std::string::npos) << what;
      EXPECT_NE(what.find("attention.q_lin.lora_magnitude_vector"), std::string::npos) << what;
    }
  };
  // use_dora without magnitudes in the file (PEFT would leave them at the row norms: refused).
  Json lora_with_dora = io::read_json(testing::fixture("lora/adapter/adapter_config.json"));
  lora_with_dora["use_dora"] = true;
  copy_weights("lora/adapter");
  io::write_file_atomic(dir / "adapter_config.json", lora_with_dora.dump());
  expect_format_error("missing");
  // Magnitudes in the file, but a config without DoRA.
  Json dora_without = io::read_json(testing::fixture(fixture_path("adapter/adapter_config.json")));
  dora_without["use_dora"] = false;
  copy_weights(fixture_path("adapter"));
  io::write_file_atomic(dir / "adapter_config.json", dora_without.dump());
  expect_format_error("unexpected");
  // use_dora of another type than PEFT writes; DoRA with megatron (PEFT raises).
  Json bad = io::read_json(testing::fixture(fixture_path("adapter/adapter_config.json")));
  bad["use_dora"] = "yes";
  io::write_file_atomic(dir / "adapter_config.json", bad.dump());
  EXPECT_THROW(load_adapter(dir.path(), *tiny_model()), ConfigError);
  bad["use_dora"] = true;
  bad["megatron_config"] = Json{{"tensor_model_parallel_size", 2}};
  io::write_file_atomic(dir / "adapter_config.json", bad.dump());
  EXPECT_THROW(load_adapter(dir.path(), *tiny_model()), ConfigError);
  // Saving under a config that disagrees with the layers would write a folder that does not load.
  auto m = tiny_model();
  LoraConfig c = load_adapter(testing::fixture(fixture_path("adapter")), *m);
  c.use_dora = false;
  testing::ScratchDir out;
  EXPECT_THROW(save_adapter(out.path(), *m, c), ConfigError);
}

}  // namespace
}  // namespace loraft::adapter
