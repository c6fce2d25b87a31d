// DistilBERT against the outputs of transformers 4.46.3 (tests/fixtures/distilbert-tiny*):
// logits, last_hidden_state and every hidden state, padded positions included; gradients of
// the full model; initialisation; replaceable linear layers.
//
// Tolerance: max |ours - reference| / max |reference| <= 1e-5 over each whole tensor (the
// fixtures README reports 1e-7 to 7e-7 for an independent plain-torch re-implementation).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cstdio>

#include "loraft/core/error.h"
#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"
#include "loraft/model/pretrained.h"
#include "loraft/model/distilbert.h"
#include "support/tensor_support.h"
#include "support/test_support.h"

namespace loraft::model {
namespace {
namespace fs = std::filesystem;

constexpr double kRelTol = 1e-5;

using testing::relative_error;

void expect_close(const std::string& what, const torch::Tensor& got, const torch::Tensor& want) {
  testing::expect_close(got, want, 0, kRelTol, what);
}

struct Batch {
  torch::Tensor input_ids, attention_mask;
};

Batch inputs(const std::string& model) {
  auto t = io::load_safetensors(testing::fixture(model + "/inputs.safetensors"));
  return {t.at("input_ids"), t.at("attention_mask")};
}

std::map<std::string, torch::Tensor> expected(const std::string& model) {
  return io::load_safetensors(testing::fixture(model + "/expected.safetensors"));
}

void expect_states(const std::string& model, const torch::Tensor& last, const std::vector<torch::Tensor>& hidden) {
  auto want = expected(model);
  expect_close(model + " last_hidden_state", last, want.at("last_hidden_state"));
  std::size_t n = 0;
  while (want.count("hidden_states." + std::to_string(n))) ++n;
  ASSERT_EQ(hidden.size(), n);
  for (std::size_t i = 0; i < n; ++i)
    expect_close(model + " hidden_states." + std::to_string(i), hidden[i], want.at("hidden_states." + std::to_string(i)));
}

class ClassifierFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ClassifierFixture, LogitsAndStatesEqualTransformers) {
  const std::string name = GetParam();
  auto model = load_sequence_classification(testing::fixture(name));
  model->eval();
  torch::NoGradGuard no_grad;
  auto batch = inputs(name);
  auto out = model->forward_with_states(batch.input_ids, batch.attention_mask, true);
  expect_close(name + " logits", out.logits, expected(name).at("logits"));
  expect_states(name, out.last_hidden_state, out.hidden_states);
  // The plain forward gives the same logits, bit for bit.
  EXPECT_TRUE(torch::equal(model->forward(batch.input_ids, batch.attention_mask), out.logits));
}

INSTANTIATE_TEST_SUITE_P(Tiny, ClassifierFixture,
                         ::testing::Values("distilbert-tiny", "distilbert-tiny-sinusoidal"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (auto& c : s) if (c == '-') c = '_';
                           return s;
                         });

TEST(MaskedLM, LogitsAndStatesEqualTransformers) {
  const std::string name = "distilbert-tiny-mlm";
  auto model = load_masked_lm(testing::fixture(name));
  model->eval();
  torch::NoGradGuard no_grad;
  auto batch = inputs(name);
  auto out = model->forward_with_states(batch.input_ids, batch.attention_mask, true);
  expect_close(name + " mlm_logits", out.logits, expected(name).at("mlm_logits"));
  expect_states(name, out.last_hidden_state, out.hidden_states);
}

TEST(MaskedLM, SelectedPositionsGiveTheSameRows) {
  auto model = load_masked_lm(testing::fixture("distilbert-tiny-mlm"));
  model->eval();
  torch::NoGradGuard no_grad;
  auto batch = inputs("distilbert-tiny-mlm");
  auto all = model->forward(batch.input_ids, batch.attention_mask);
  auto selected = batch.attention_mask.to(torch::kBool) & (torch::arange(batch.input_ids.size(1)) % 3 == 1);
  auto some = model->forward_selected(batch.input_ids, batch.attention_mask, selected);
  ASSERT_EQ(some.size(0), selected.sum().item<std::int64_t>());
  EXPECT_LE(relative_error(some, all.index({selected})), 1e-6);
}

TEST(MaskedLM, ProjectorIsTheWordEmbeddingTensor) {
  auto model = load_masked_lm(testing::fixture("distilbert-tiny-mlm"));
  auto& emb = model->distilbert->embeddings->word_embeddings->weight;
  EXPECT_TRUE(model->vocab_projector->tied());
  EXPECT_TRUE(model->vocab_projector->weight().is_same(emb));
  // Same tensor, so an update of one is an update of the other.
  {
    torch::NoGradGuard no_grad;
    emb[5].fill_(0.5);
  }
  EXPECT_EQ(model->vocab_projector->weight()[5][0].item<float>(), 0.5f);
  // And transformers' (deduplicated) named_parameters has no vocab_projector.weight.
  for (const auto& p : model->named_parameters()) EXPECT_NE(p.key(), "vocab_projector.weight");
  auto manifest = io::read_json(testing::fixture("manifest.json"));
  EXPECT_EQ(count_parameters(*model), manifest["tiny"]["distilbert-tiny-mlm"]["n_params"].get<std::int64_t>());
}

TEST(Sinusoidal, TableEqualsTheOneTransformersSaved) {
  auto saved = io::SafetensorsFile(testing::fixture("distilbert-tiny-sinusoidal/model.safetensors"))
                   .tensor("distilbert.embeddings.position_embeddings.weight");
  auto ours = sinusoidal_position_table(saved.size(0), saved.size(1));
  EXPECT_TRUE(torch::equal(ours, saved)) << "max diff " << (ours - saved).abs().max().item<float>();
}

TEST(Gradients, FullModelGradientsEqualTransformers) {
  // tests/fixtures/full: distilbert-tiny with every dropout 0, mean cross-entropy on one batch.
  LoadOptions options;
  options.adjust_config = [](DistilBertConfig& c) { c.dropout = c.attention_dropout = c.seq_classif_dropout = 0; };
  auto model = load_sequence_classification(testing::fixture("distilbert-tiny"), options);
  model->train();
  auto batch = io::load_safetensors(testing::fixture("full/batch.safetensors"));
  auto logits = model->forward(batch.at("input_ids"), batch.at("attention_mask"));
  auto loss = torch::nn::functional::cross_entropy(logits, batch.at("labels"));
  loss.backward();
  auto grads = io::load_safetensors(testing::fixture("full/grads.safetensors"));
  std::size_t compared = 0;
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(grads.count(p.key())) << p.key();
    const auto& want = grads.at(p.key());
    if (p.key().find("k_lin.bias") != std::string::npos) {
      // Its true gradient is exactly 0 (README, full/): only rounding noise on both sides.
      EXPECT_LE(p.value().grad().abs().max().item<double>(), 1e-6) << p.key();
      continue;
    }
    double rel = relative_error(p.value().grad(), want);
    EXPECT_LE(rel, 1e-4) << p.key();
    ++compared;
  }
  EXPECT_EQ(compared + 2, grads.size());
  // padding_idx: the [PAD] row never gets a gradient.
  auto pad = model->config.pad_token_id;
  EXPECT_EQ(model->distilbert->embeddings->word_embeddings->weight.grad()[pad].abs().max().item<float>(), 0.0f);
}

// ----- initialisation -----------------------------------------------------------------------

DistilBertConfig tiny_config() {
  return DistilBertConfig::from_file(testing::fixture("distilbert-tiny/config.json"));
}

TEST(Init, SameSeedSameWeightsAndTransformersDistributions) {
  auto config = tiny_config();
  DistilBertForSequenceClassification a(config, 11), b(config, 11), c(config, 12);
  auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  bool any_differs = false;
  for (const auto& p : pa) {
    EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
    any_differs |= !torch::equal(p.value(), pc[p.key()]);
  }
  EXPECT_TRUE(any_differs);
  // _init_weights: LayerNorm 1/0, Linear bias 0, padding row 0, weights N(0, 0.02^2).
  for (const auto& p : pa) {
    const auto& k = p.key();
    if (k.find("LayerNorm.weight") != std::string::npos || k.find("layer_norm.weight") != std::string::npos) {
      EXPECT_TRUE(torch::equal(p.value(), torch::ones_like(p.value()))) << k;
    } else if (k.find(".bias") != std::string::npos) {
      EXPECT_TRUE(torch::equal(p.value(), torch::zeros_like(p.value()))) << k;
    }
  }
  auto emb = a->distilbert->embeddings->word_embeddings->weight;
  EXPECT_EQ(emb[config.pad_token_id].abs().max().item<float>(), 0.0f);
  EXPECT_NEAR(emb.std().item<double>(), config.initializer_range, 0.1 * config.initializer_range);
  EXPECT_NEAR(a->distilbert->transformer->layer->at<TransformerBlockImpl>(0).ffn->lin1->named_parameters()["weight"]
                  .std()
                  .item<double>(),
              config.initializer_range, 0.1 * config.initializer_range);
}

TEST(Init, SinusoidalTableIsSetAndFrozen) {
  auto config = tiny_config();
  config.sinusoidal_pos_embds = true;
  DistilBertModel encoder(config);
  init_weights(*encoder, config, 3);
  auto w = encoder->embeddings->position_embeddings->weight;
  EXPECT_TRUE(torch::equal(w, sinusoidal_position_table(config.max_position_embeddings, config.dim)));
  EXPECT_FALSE(w.requires_grad());
  DistilBertForSequenceClassification model(config, 3);
  EXPECT_EQ(count_parameters(*model, true) + w.numel(), count_parameters(*model));
}

// ----- names and structure ------------------------------------------------------------------

TEST(Names, NamedParametersAreExactlyTransformersList) {
  auto counts = io::read_json(testing::fixture("param_counts.json"));
  DistilBertConfig config = DistilBertConfig::from_json(counts["config_json_written_by_DistilBertConfig"]);
  config.n_layers = 2;  // the names repeat per layer; two layers keep this test fast
  config.vocab_size = 100;
  DistilBertForSequenceClassification model(config, 0);
  std::vector<std::string> ours;
  for (const auto& p : model->named_parameters()) ours.push_back(p.key());
  std::vector<std::string> theirs;
  for (const auto& n : counts["all_parameter_names_full_model"]) {
    auto s = n.get<std::string>();
    if (s.find("layer.2.") == std::string::npos && s.find("layer.3.") == std::string::npos &&
        s.find("layer.4.") == std::string::npos && s.find("layer.5.") == std::string::npos)
      theirs.push_back(s);
  }
  EXPECT_EQ(ours, theirs);
}

TEST(Names, ManifestListsTheTinyCheckpointNames) {
  auto manifest = io::read_json(testing::fixture("manifest.json"));
  auto model = DistilBertForSequenceClassification(tiny_config(), 0);
  std::vector<std::string> ours;
  for (const auto& p : model->named_parameters()) ours.push_back(p.key());
  std::sort(ours.begin(), ours.end());
  EXPECT_EQ(ours, manifest["tiny"]["distilbert-tiny"]["saved_tensor_names"].get<std::vector<std::string>>());
  EXPECT_EQ(count_parameters(*model), manifest["tiny"]["distilbert-tiny"]["n_params"].get<std::int64_t>());
}

// ----- replaceable linear layers ------------------------------------------------------------

// A wrapper that keeps the original layer as a child ("base_layer") and adds a path of its
// own (here a constant shift, to see it act). loraft's LoraLinear registers the base's
// `weight` and `bias` itself instead, to keep transformers' names; this test is about the
// replacement mechanism, which supports both.
class ShiftedLinear : public LinearLayer {
 public:
  ShiftedLinear(std::shared_ptr<LinearLayer> base, double shift)
      : base_layer(register_module("base_layer", std::move(base))), shift_(shift) {}
  torch::Tensor forward(const torch::Tensor& x) override { return base_layer->forward(x) + shift_; }
  std::shared_ptr<LinearLayer> base_layer;

 private:
  double shift_;
};

TEST(Linears, ListsEveryLinearWithItsHuggingFaceName) {
  auto config = tiny_config();
  DistilBertForSequenceClassification model(config, 0);
  std::vector<std::string> names;
  for (const auto& [name, layer] : linear_layers(*model)) names.push_back(name);
  ASSERT_EQ(names.size(), static_cast<std::size_t>(6 * config.n_layers + 2));
  EXPECT_EQ(names.front(), "distilbert.transformer.layer.0.attention.q_lin");
  EXPECT_EQ(names[5], "distilbert.transformer.layer.0.ffn.lin2");
  EXPECT_EQ(names.back(), "classifier");
}

TEST(Linears, ReplacingALinearChangesNamesAndForwardButKeepsWeights) {
  auto model = load_sequence_classification(testing::fixture("distilbert-tiny"));
  model->eval();
  torch::NoGradGuard no_grad;
  auto batch = inputs("distilbert-tiny");
  auto before = model->forward(batch.input_ids, batch.attention_mask);

  const std::string target = "distilbert.transformer.layer.1.attention.v_lin";
  std::shared_ptr<LinearLayer> original;
  for (auto& [name, layer] : linear_layers(*model))
    if (name == target) original = layer;
  ASSERT_TRUE(original);
  auto weight = original->named_parameters()["weight"];

  replace_linear(*model, target, std::make_shared<ShiftedLinear>(original, 0.0));
  auto params = model->named_parameters();
  EXPECT_TRUE(params.contains(target + ".base_layer.weight"));
  EXPECT_FALSE(params.contains(target + ".weight"));
  EXPECT_TRUE(params[target + ".base_layer.weight"].is_same(weight));
  EXPECT_TRUE(torch::equal(model->forward(batch.input_ids, batch.attention_mask), before));

  replace_linear(*model, target, std::make_shared<ShiftedLinear>(original, 0.5));
  EXPECT_FALSE(torch::equal(model->forward(batch.input_ids, batch.attention_mask), before));
  // Heads are linear layers too (PEFT's modules_to_save wraps them).
  replace_linear(*model, "classifier", std::make_shared<ShiftedLinear>(model->classifier, 1.0));
  EXPECT_TRUE(model->named_parameters().contains("classifier.base_layer.bias"));
  EXPECT_THROW(replace_linear(*model, "distilbert.transformer.layer.0.attention.nope", original), ConfigError);
  EXPECT_THROW(replace_linear(*model, "distilbert.embeddings.word_embeddings", original), ConfigError);
}

// ----- inputs -------------------------------------------------------------------------------

TEST(Inputs, MaskDefaultsToOnesAndBadInputsAreClearErrors) {
  auto model = load_sequence_classification(testing::fixture("distilbert-tiny"));
  model->eval();
  torch::NoGradGuard no_grad;
  auto config = model->config;
  auto ids = torch::randint(config.vocab_size, {2, 5}, torch::kLong);
  EXPECT_TRUE(torch::equal(model->forward(ids), model->forward(ids, torch::ones_like(ids))));
  EXPECT_TRUE(torch::equal(model->forward(ids.to(torch::kInt)), model->forward(ids)));
  EXPECT_THROW(model->forward(torch::zeros({2, config.max_position_embeddings + 1}, torch::kLong)), ConfigError);
  EXPECT_THROW(model->forward(ids + config.vocab_size), ConfigError);
  EXPECT_THROW(model->forward(ids.flatten()), ConfigError);
  EXPECT_THROW(model->forward(ids, torch::ones({2, 4})), ConfigError);
}

TEST(Inputs, FullyPaddedRowIsFiniteLikeTheEagerPath) {
  // finfo.min rather than -inf: a row with every key masked softmaxes uniformly, no NaN.
  auto model = load_sequence_classification(testing::fixture("distilbert-tiny"));
  model->eval();
  torch::NoGradGuard no_grad;
  auto ids = torch::ones({1, 4}, torch::kLong);
  auto logits = model->forward(ids, torch::zeros({1, 4}, torch::kLong));
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
}

// Virtual tokens (EmbeddingsImpl::add_virtual_tokens) that are rows of the word table must act
// exactly as those tokens written in front of every row: same positions, same attended mask,
// same states, bit for bit; with both attention implementations.
TEST(VirtualTokens, RowsOfTheWordTableActAsThoseTokensPrepended) {
  std::vector<std::string> implementations{"eager"};
  if (sdpa_available()) implementations.push_back("sdpa");
  for (const auto& attn : implementations) {
    SCOPED_TRACE(attn);
    LoadOptions o;
    o.adjust_config = [&](DistilBertConfig& c) { c.attn_implementation = attn; };
    auto plain = load_sequence_classification(testing::fixture("distilbert-tiny"), o);
    auto prompted = load_sequence_classification(testing::fixture("distilbert-tiny"), o);
    plain->eval();
    prompted->eval();
    const auto prompt_ids = torch::tensor({7, 2, 51}, torch::kLong);
    prompted->distilbert->embeddings->add_virtual_tokens(
        prompted->distilbert->embeddings->word_embeddings->weight.index_select(0, prompt_ids));
    EXPECT_EQ(prompted->distilbert->embeddings->num_virtual_tokens(), 3);
    EXPECT_EQ(plain->distilbert->embeddings->num_virtual_tokens(), 0);
    auto in = inputs("distilbert-tiny");
    const auto rows = in.input_ids.size(0);
    auto ids = torch::cat({prompt_ids.unsqueeze(0).expand({rows, -1}), in.input_ids}, 1);
    auto mask = torch::cat({torch::ones({rows, 3}, in.attention_mask.options()), in.attention_mask}, 1);
    torch::NoGradGuard no_grad;
    auto got = prompted->forward_with_states(in.input_ids, in.attention_mask);
    auto want = plain->forward_with_states(ids, mask);
    EXPECT_EQ(got.last_hidden_state.sizes(), want.last_hidden_state.sizes());
    EXPECT_TRUE(torch::equal(got.last_hidden_state, want.last_hidden_state));
    EXPECT_TRUE(torch::equal(got.logits, want.logits));
    ASSERT_EQ(got.hidden_states.size(), want.hidden_states.size());
    for (std::size_t i = 0; i < got.hidden_states.size(); ++i)
      EXPECT_TRUE(torch::equal(got.hidden_states[i], want.hidden_states[i])) << i;
    // Without a mask the virtual tokens and every real token are attended.
    EXPECT_TRUE(torch::equal(prompted->forward(in.input_ids), plain->forward(ids)));
  }
}

TEST(VirtualTokens, AreOneNamedTrainableParameterAndCountAgainstThePositions) {
  auto model = load_sequence_classification(testing::fixture("distilbert-tiny"));
  model->eval();
  auto& embeddings = *model->distilbert->embeddings;
  const auto dim = model->config.dim, max_pos = model->config.max_position_embeddings;
  const auto before = count_parameters(*model);
  EXPECT_THROW(embeddings.add_virtual_tokens(torch::zeros({0, dim})), ConfigError);
  EXPECT_THROW(embeddings.add_virtual_tokens(torch::zeros({4, dim + 1})), ConfigError);
  EXPECT_THROW(embeddings.add_virtual_tokens(torch::zeros({4}, torch::kFloat)), ConfigError);
  EXPECT_THROW(embeddings.add_virtual_tokens(torch::zeros({4, dim}, torch::kLong)), ConfigError);
  EXPECT_EQ(embeddings.num_virtual_tokens(), 0);
  const torch::Tensor init = torch::randn({4, dim});
  embeddings.add_virtual_tokens(init);
  EXPECT_THROW(embeddings.add_virtual_tokens(init), ConfigError);
  auto params = model->named_parameters();
  ASSERT_NE(params.find("distilbert.embeddings.virtual_tokens"), nullptr);
  const torch::Tensor& p = params["distilbert.embeddings.virtual_tokens"];
  EXPECT_TRUE(p.requires_grad());
  EXPECT_TRUE(torch::equal(p, init));
  EXPECT_FALSE(p.is_same(init)) << "a copy, not the caller's tensor";
  EXPECT_EQ(count_parameters(*model), before + 4 * dim);
  // nv + T <= max_position_embeddings.
  EXPECT_NO_THROW(model->forward(torch::ones({1, max_pos - 4}, torch::kLong)));
  EXPECT_THROW(model->forward(torch::ones({1, max_pos - 3}, torch::kLong)), ConfigError);
  // The prompt gets a gradient through the head, which reads its first vector.
  model->forward(torch::ones({2, 5}, torch::kLong)).sum().backward();
  ASSERT_TRUE(p.grad().defined());
  EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0);
}

// The MLM head's selected positions are input_ids' positions, behind the virtual tokens.
TEST(VirtualTokens, MaskedLMSelectsInputPositionsBehindThem) {
  auto model = load_masked_lm(testing::fixture("distilbert-tiny-mlm"));
  model->eval();
  model->distilbert->embeddings->add_virtual_tokens(torch::randn({2, model->config.dim}));
  torch::NoGradGuard no_grad;
  auto batch = inputs("distilbert-tiny-mlm");
  auto all = model->forward(batch.input_ids, batch.attention_mask);
  ASSERT_EQ(all.size(1), batch.input_ids.size(1) + 2);
  auto selected = batch.attention_mask.to(torch::kBool) & (torch::arange(batch.input_ids.size(1)) % 3 == 1);
  auto some = model->forward_selected(batch.input_ids, batch.attention_mask, selected);
  EXPECT_LE(relative_error(some, all.slice(1, 2).index({selected})), 1e-6);
}

// A residual hook (TransformerBlockImpl::set_residual_hook) that scales the sublayer output
// before the block's own LayerNorm: with scale 1 it is the plain block, bit for bit; otherwise
// it changes the outputs, its parameter is named under the block, and a site takes one hook.
class ScaledResidual : public ResidualHookImpl {
 public:
  explicit ScaledResidual(double s) : scale(register_parameter("scale", torch::full({1}, s))) {}
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& x, torch::nn::LayerNorm& ln) override {
    return ln(h * scale + x);
  }
  torch::Tensor scale;
};

TEST(ResidualHooks, ReplaceTheResidualLayerNormStepsAndAreNamedUnderTheBlock) {
  auto model = load_sequence_classification(testing::fixture("distilbert-tiny"));
  model->eval();
  auto batch = inputs("distilbert-tiny");
  torch::NoGradGuard no_grad;
  const auto plain = model->forward(batch.input_ids, batch.attention_mask);
  auto* block = model->distilbert->transformer->layer[1]->as<TransformerBlockImpl>();
  EXPECT_EQ(block->residual_hook(ResidualSite::attention), nullptr);
  auto attention = std::make_shared<ScaledResidual>(1.0), output = std::make_shared<ScaledResidual>(1.0);
  block->set_residual_hook(ResidualSite::attention, "attention_hook", attention);
  block->set_residual_hook(ResidualSite::output, "output_hook", output);
  EXPECT_EQ(block->residual_hook(ResidualSite::output), output);
  EXPECT_TRUE(torch::equal(model->forward(batch.input_ids, batch.attention_mask), plain));
  auto params = model->named_parameters();
  EXPECT_TRUE(params.contains("distilbert.transformer.layer.1.attention_hook.scale"));
  EXPECT_TRUE(params.contains("distilbert.transformer.layer.1.output_hook.scale"));
  for (auto* hook : {attention.get(), output.get()}) {
    hook->scale.fill_(0.5);
    EXPECT_GT((model->forward(batch.input_ids, batch.attention_mask) - plain).abs().max().item<double>(), 1e-3);
    hook->scale.fill_(1.0);
  }
  EXPECT_THROW(block->set_residual_hook(ResidualSite::output, "again", std::make_shared<ScaledResidual>(1.0)),
               ConfigError);
  EXPECT_THROW(block->set_residual_hook(ResidualSite::attention, "none", nullptr), ConfigError);
}

}  // namespace
}  // namespace loraft::model
