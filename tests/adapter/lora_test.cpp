// LoRA against PEFT 0.13.2: loading its adapter reproduces its logits, merging reproduces its
// merged checkpoint, saving writes its names and config fields, and parameter counts match
// print_trainable_parameters() for the tiny model and for distilbert-base at every rank.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

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
using testing_support::tiny_model;

torch::Tensor logits_of(model::DistilBertForSequenceClassification& m) {
  auto in = io::load_safetensors(testing::fixture("lora/inputs.safetensors"));
  torch::NoGradGuard no_grad;
  return m->forward(in.at("input_ids"), in.at("attention_mask"));
}

TEST(PeftAdapter, LoadingPeftsAdapterReproducesItsLogits) {
  auto m = tiny_model();
  LoraConfig c = load_adapter(testing::fixture("lora/adapter"), *m);
  EXPECT_EQ(c.r, 4);
  EXPECT_DOUBLE_EQ(c.scaling(), 4.0);
  auto expected = io::load_safetensors(testing::fixture("lora/expected.safetensors"));
  expect_close(logits_of(m), expected.at("logits_adapter"), "logits_adapter");
  expect_close(logits_of(m), expected.at("logits_reloaded"), "logits_reloaded");
}

TEST(PeftAdapter, MergeAndUnloadMatchesPeftsMergedModel) {
  auto m = tiny_model();
  load_adapter(testing::fixture("lora/adapter"), *m);
  merge_and_unload(*m);
  EXPECT_TRUE(lora_layers(*m).empty());
  auto expected = io::load_safetensors(testing::fixture("lora/expected.safetensors"));
  expect_close(logits_of(m), expected.at("logits_merged"), "logits_merged");
  auto merged = io::load_safetensors(testing::fixture("lora/merged/model.safetensors"));
  auto ours = model::state_dict(*m);
  ASSERT_EQ(ours.size(), merged.size());
  for (auto& [name, t] : ours) {
    ASSERT_TRUE(merged.count(name)) << name;
    expect_close(t, merged.at(name), name);
  }
}

TEST(PeftAdapter, MergeThenUnmergeRestoresTheOutputs) {
  auto m = tiny_model();
  load_adapter(testing::fixture("lora/adapter"), *m);
  torch::Tensor before = logits_of(m);
  merge_lora(*m);
  expect_close(logits_of(m), before, "merged");
  unmerge_lora(*m);
  expect_close(logits_of(m), before, "unmerged");
}

TEST(PeftAdapter, SavedAdapterHasPeftsNamesAndConfigAndReloads) {
  auto m = tiny_model();
  LoraConfig c = load_adapter(testing::fixture("lora/adapter"), *m);
  testing::ScratchDir dir;
  save_adapter(dir.path(), *m, c);
  Json lora = io::read_json(testing::fixture("lora/lora.json"));
  io::SafetensorsFile saved(dir / "adapter_model.safetensors");
  EXPECT_EQ(saved.names(), lora["adapter_saved_tensor_names"].get<std::vector<std::string>>());
  EXPECT_EQ(saved.metadata().at("format"), "pt");
  io::SafetensorsFile peft(testing::fixture("lora/adapter/adapter_model.safetensors"));
  for (const auto& name : peft.names()) {
    EXPECT_EQ(saved.info(name).shape, peft.info(name).shape) << name;
    EXPECT_TRUE(torch::equal(saved.tensor(name), peft.tensor(name))) << name;
  }
  // Same fields as PEFT's file; target_modules compared as a set.
  Json ours = io::read_json(dir / "adapter_config.json");
  Json theirs = io::read_json(testing::fixture("lora/adapter/adapter_config.json"));
  for (auto* j : {&ours, &theirs}) {
    auto t = (*j)["target_modules"].get<std::vector<std::string>>();
    std::sort(t.begin(), t.end());
    (*j)["target_modules"] = t;
  }
  EXPECT_EQ(ours, theirs);
  auto fresh = tiny_model();
  load_adapter(dir.path(), *fresh);
  EXPECT_TRUE(torch::equal(logits_of(fresh), logits_of(m)));
}

TEST(PeftAdapter, BadAdapterFilesGiveOneClearError) {
  testing::ScratchDir dir;
  auto m = tiny_model();
  LoraConfig c = load_adapter(testing::fixture("lora/adapter"), *m);
  c.r = 2;  // the config now disagrees with the saved matrices
  save_adapter(dir.path(), *m, load_adapter(testing::fixture("lora/adapter"), *tiny_model()));
  io::write_file_atomic(dir / "adapter_config.json", to_peft_json(c).dump());
  for (const std::int64_t r : {std::int64_t{2}, std::int64_t{1000000000000}}) {
    // Checked against the file before anything is allocated: r = 1e12 must not reach the allocator.
    c.r = r;
    io::write_file_atomic(dir / "adapter_config.json", to_peft_json(c).dump());
    try {
      load_adapter(dir.path(), *tiny_model());
      FAIL();
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("adapter_config.json has r = " + std::to_string(r) + ", but "),
                std::string::npos) << e.what();
      const auto saved = io::read_json(testing::fixture("lora/adapter/adapter_config.json")).at("r").get<std::int64_t>();
      EXPECT_NE(std::string(e.what()).find("lora_A.weight has rank " + std::to_string(saved)), std::string::npos)
          << e.what();
    }
  }
  // Keys missing or of another type than PEFT writes, and a target regex that is none.
  Json no_targets = to_peft_json(c);
  no_targets.erase("target_modules");
  io::write_file_atomic(dir / "adapter_config.json", no_targets.dump());
  try {
    load_adapter(dir.path(), *tiny_model());
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not a PEFT LoRA config"), std::string::npos) << e.what();
  }
  Json bad_regex = to_peft_json(c);
  bad_regex["target_modules"] = "([";
  io::write_file_atomic(dir / "adapter_config.json", bad_regex.dump());
  EXPECT_THROW(load_adapter(dir.path(), *tiny_model()), ConfigError);
  // DoRA is implemented (tests/adapter/dora_test.cpp); a use_dora that is no bool is refused.
  Json dora = to_peft_json(c);
  dora["use_dora"] = 1;
  io::write_file_atomic(dir / "adapter_config.json", dora.dump());
  EXPECT_THROW(load_adapter(dir.path(), *tiny_model()), ConfigError);
}

// Found with the adapter_config fuzz target (inputs in tests/fuzz/regressions/adapter_config): a
// target_modules regex that hung matching (`(.*.*)*z`, exponential backtracking) or overflowed
// the stack compiling (8,000 nested groups), a layers_pattern that is no regular expression
// (std::regex_error) or holds a group of its own (std::invalid_argument from the layer index),
// and floats where integers belong (1e300: undefined behaviour). Each is one loraft::Error, at once.
TEST(PeftAdapter, HostileAdapterConfigsGiveOneClearErrorQuickly) {
  const auto regressions = testing::source_dir() / "tests/fuzz/regressions/adapter_config";
  testing::ScratchDir dir;
  std::filesystem::copy_file(testing::fixture("lora/adapter/adapter_model.safetensors"),
                             dir / "adapter_model.safetensors");
  for (const char* name : {"redos-target-regex.json", "deep-target-regex.json", "bad-layers-pattern.json",
                           "group-in-layers-pattern.json", "float-r.json", "float-layer.json"}) {
    io::write_file_atomic(dir / "adapter_config.json", io::read_file(regressions / name));
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(load_adapter(dir.path(), *tiny_model()), Error) << name;
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0) << name;
  }
  LoraConfig c;
  c.target_regex = std::string(kMaxPatternSize + 1, 'a');
  EXPECT_THROW(c.validate(), ConfigError);
#ifdef __GLIBCXX__
  c.target_regex = R"((\w+)\.\1)";  // back-references would need the backtracking matcher
  EXPECT_THROW(c.validate(), ConfigError);
#endif
  c.target_regex.reset();
  c.layers_to_transform = {0};
  c.layers_pattern = "(x)?layer";  // the layer index is the last group
  EXPECT_TRUE(is_lora_target("distilbert.transformer.layer.0.attention.q_lin", c));
  EXPECT_FALSE(is_lora_target("distilbert.transformer.layer.1.attention.q_lin", c));
}

TEST(LoraTargets, PeftMatchingRules) {
  LoraConfig c;  // q_lin, v_lin
  EXPECT_TRUE(is_lora_target("distilbert.transformer.layer.3.attention.q_lin", c));
  EXPECT_FALSE(is_lora_target("distilbert.transformer.layer.3.attention.k_lin", c));
  EXPECT_FALSE(is_lora_target("distilbert.transformer.layer.3.attention.xq_lin", c));
  c.layers_to_transform = {0, 2};
  c.layers_pattern = "layer";
  EXPECT_TRUE(is_lora_target("distilbert.transformer.layer.2.attention.v_lin", c));
  EXPECT_FALSE(is_lora_target("distilbert.transformer.layer.1.attention.v_lin", c));
  c.layers_pattern.clear();  // PEFT's generic pattern: the first ".name.<digits>."
  EXPECT_TRUE(is_lora_target("distilbert.transformer.layer.0.attention.q_lin", c));
  EXPECT_FALSE(is_lora_target("distilbert.transformer.layer.5.attention.q_lin", c));
  c.target_regex = R"(.*\.(lin1|lin2))";
  EXPECT_TRUE(is_lora_target("distilbert.transformer.layer.5.ffn.lin1", c));
  EXPECT_FALSE(is_lora_target("distilbert.transformer.layer.5.attention.q_lin", c));
  // PEFT's suffix test has no dot: pre_classifier is saved along with classifier.
  LoraConfig d;
  EXPECT_TRUE(is_module_to_save("pre_classifier", d.modules_to_save));
  EXPECT_TRUE(is_module_to_save("classifier", d.modules_to_save));
  EXPECT_FALSE(is_module_to_save("distilbert.embeddings", d.modules_to_save));
}

TEST(LoraTargets, TargetsThatDoNotFitAreErrors) {
  LoraConfig c;
  c.target_modules = {"query"};
  EXPECT_THROW(apply_lora(*tiny_model(), c, 0), ConfigError);
  c.target_modules = {"attention"};  // a module, but not a linear layer
  EXPECT_THROW(apply_lora(*tiny_model(), c, 0), ConfigError);
  c.target_modules = {"q_lin"};
  c.r = 0;
  EXPECT_THROW(apply_lora(*tiny_model(), c, 0), ConfigError);
  auto m = tiny_model();
  c.r = 2;
  apply_lora(*m, c, 0);
  EXPECT_THROW(apply_lora(*m, c, 0), ConfigError);
}

TEST(LoraInit, StartsAsTheBaseModelAndIsSeeded) {
  auto base = tiny_model();
  torch::Tensor before = logits_of(base);
  LoraConfig c;
  c.r = 4;
  c.lora_alpha = 16;
  auto a = tiny_model(), b = tiny_model();
  torch::manual_seed(123);
  torch::Tensor probe = torch::rand({1});
  torch::manual_seed(123);
  apply_lora(*a, c, 7);
  EXPECT_TRUE(torch::equal(torch::rand({1}), probe)) << "apply_lora changed the caller's RNG";
  apply_lora(*b, c, 7);
  a->eval();
  EXPECT_TRUE(torch::equal(logits_of(a), before));  // B = 0
  auto la = lora_layers(*a), lb = lora_layers(*b);
  ASSERT_EQ(la.size(), 4u);
  for (std::size_t i = 0; i < la.size(); ++i) {
    EXPECT_TRUE(torch::equal(la[i].second->lora_A->weight, lb[i].second->lora_A->weight));
    // kaiming_uniform(a=sqrt(5)) on [r, in]: bound 1/sqrt(in).
    EXPECT_LE(la[i].second->lora_A->weight.abs().max().item<double>(), 1.0 / std::sqrt(32.0));
    EXPECT_EQ(la[i].second->lora_B->weight.abs().max().item<double>(), 0.0);
  }
}

TEST(LoraCounts, TinyModelMatchesPeft) {
  auto m = tiny_model();
  LoraConfig c = load_adapter(testing::fixture("lora/adapter"), *m);
  Json lora = io::read_json(testing::fixture("lora/lora.json"));
  PeftParameterCounts counts = peft_parameter_counts(*m, c.modules_to_save);
  EXPECT_EQ(counts.trainable, lora["trainable_total"].get<std::int64_t>());
  EXPECT_EQ(counts.all, lora["all_total"].get<std::int64_t>());
  EXPECT_EQ(counts.line(), lora["print_trainable_parameters"].get<std::string>());
  std::vector<std::string> trainable;
  for (auto& p : m->named_parameters())
    if (p.value().requires_grad()) trainable.push_back(peft_runtime_name(p.key(), c));
  std::vector<std::string> expected;
  for (auto& p : lora["trainable_parameters"]) expected.push_back(p["name"]);
  std::sort(trainable.begin(), trainable.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(trainable, expected);
}

TEST(LoraCounts, DistilBertBaseEveryRankAndLabelCount) {
  Json counts = io::read_json(testing::fixture("param_counts.json"));
  const Json& common = counts["lora_common"];
  for (const auto& [labels, by_rank] : counts["lora"].items()) {
    model::DistilBertConfig config;  // transformers' defaults = distilbert-base-uncased
    config.set_num_labels(std::stoll(labels));
    model::DistilBertForSequenceClassification m(config, 0);
    for (const auto& [rank, expected] : by_rank.items()) {
      LoraConfig c;
      c.r = std::stoll(rank);
      c.lora_alpha = common["lora_alpha"];
      c.lora_dropout = common["lora_dropout"];
      c.target_modules = common["target_modules"].get<std::vector<std::string>>();
      apply_lora(*m, c, 0);
      PeftParameterCounts got = peft_parameter_counts(*m, c.modules_to_save);
      EXPECT_EQ(got.trainable, expected["trainable"].get<std::int64_t>()) << labels << " r=" << rank;
      EXPECT_EQ(got.all, expected["all"].get<std::int64_t>()) << labels << " r=" << rank;
      EXPECT_EQ(got.line(), expected["printed"].get<std::string>());
      merge_and_unload(*m);  // back to the plain model for the next rank
    }
  }
}

}  // namespace
}  // namespace loraft::adapter

// ----- fused attention ----------------------------------------------------------------------

namespace loraft::adapter {
namespace {

struct Pass {
  torch::Tensor logits;
  std::map<std::string, torch::Tensor> grads;  // of every trainable parameter
};

// The tiny model (dropouts 0) with `attn` attention, with or without LoRA on q_lin/v_lin (B
// drawn non-zero, so that the adapter path carries gradient into A), on the fixture batch:
// logits and the gradients of the mean cross-entropy.
Pass forward_backward(const std::string& attn, bool lora) {
  model::LoadOptions options;
  options.adjust_config = [&](model::DistilBertConfig& c) {
    c.dropout = c.attention_dropout = c.seq_classif_dropout = 0;
    c.attn_implementation = attn;
  };
  auto m = model::load_sequence_classification(testing::fixture("distilbert-tiny"), options);
  if (lora) {
    LoraConfig c;
    c.r = 4;
    c.lora_alpha = 16;
    c.lora_dropout = 0;
    apply_lora(*m, c, 7);
    torch::manual_seed(8);
    torch::NoGradGuard no_grad;
    for (auto& [name, layer] : lora_layers(*m)) layer->lora_B->weight.normal_(0, 0.5);
  }
  auto batch = io::load_safetensors(testing::fixture("full/batch.safetensors"));
  Pass out;
  out.logits = m->forward(batch.at("input_ids"), batch.at("attention_mask"));
  torch::nn::functional::cross_entropy(out.logits, batch.at("labels")).backward();
  for (auto& p : m->named_parameters())
    if (p.value().requires_grad()) out.grads[p.key()] = p.value().grad();
  return out;
}

TEST(SdpaAttention, EqualsEagerLogitsAndGradientsFullAndLora) {
  if (!model::sdpa_available()) {
    model::DistilBertConfig c;
    c.attn_implementation = "sdpa";
    EXPECT_THROW(c.validate(), ConfigError);  // refused, not silently eager
    GTEST_SKIP() << "LibTorch " << TORCH_VERSION << " has no scaled_dot_product_attention: "
                 << "this test runs on LibTorch 2.x (make test-debian13)";
  }
  EXPECT_EQ(model::default_attn_implementation(), "sdpa");  // transformers 4.46.3's choice on torch 2.x
  auto mask = io::load_safetensors(testing::fixture("full/batch.safetensors")).at("attention_mask");
  ASSERT_TRUE((mask == 0).any().item<bool>()) << "the batch must hold padding to test the mask";
  for (bool lora : {false, true}) {
    SCOPED_TRACE(lora ? "LoRA" : "full");
    Pass eager = forward_backward("eager", lora), fused = forward_backward("sdpa", lora);
    expect_close(fused.logits, eager.logits, "logits");
    ASSERT_EQ(fused.grads.size(), eager.grads.size());
    for (auto& [name, g] : eager.grads) {
      if (name.find("k_lin.bias") != std::string::npos) continue;  // true gradient 0: rounding noise only
      const double err = (fused.grads.at(name) - g).abs().max().item<double>();
      EXPECT_LE(err, 1e-4 * g.abs().max().item<double>()) << name;
    }
  }
}

}  // namespace
}  // namespace loraft::adapter
