// Checkpoint folders: config.json and model.safetensors as transformers reads and writes them,
// the MLM-as-classifier loading report, errors, dtype conversion, parameter counts.
#include <gtest/gtest.h>

#include <tuple>

#include <torch/torch.h>

#include "loraft/core/error.h"
#include "loraft/io/file.h"
#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"
#include "loraft/model/pretrained.h"
#include "loraft/model/config.h"
#include "loraft/model/distilbert.h"
#include "support/test_support.h"

namespace loraft::model {
namespace {
namespace fs = std::filesystem;

const std::vector<std::string> kFixtures = {"distilbert-tiny", "distilbert-tiny-sinusoidal", "distilbert-tiny-mlm"};

bool is_mlm(const std::string& name) { return name.find("mlm") != std::string::npos; }

// Loads a folder with the head its config names, and saves it again.
void load_and_save(const fs::path& from, const fs::path& to) {
  if (is_mlm(from.filename().string()))
    save_pretrained(to, load_masked_lm(from));
  else
    save_pretrained(to, load_sequence_classification(from));
}

// A copy of a fixture folder (config + weights) that a test may change.
fs::path copy_checkpoint(const testing::ScratchDir& dir, const std::string& name,
                         const std::string& as = "") {
  fs::path to = dir / (as.empty() ? name : as);
  fs::create_directories(to);
  fs::copy_file(testing::fixture(name + "/config.json"), to / "config.json");
  fs::copy_file(testing::fixture(name + "/model.safetensors"), to / "model.safetensors");
  return to;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ----- config.json --------------------------------------------------------------------------

TEST(Config, DefaultsAreTransformersDefaults) {
  auto counts = io::read_json(testing::fixture("param_counts.json"));
  const auto& hf = counts["config_json_written_by_DistilBertConfig"];
  DistilBertConfig c;
  EXPECT_EQ(c.vocab_size, hf["vocab_size"].get<std::int64_t>());
  EXPECT_EQ(c.max_position_embeddings, hf["max_position_embeddings"].get<std::int64_t>());
  EXPECT_EQ(c.sinusoidal_pos_embds, hf["sinusoidal_pos_embds"].get<bool>());
  EXPECT_EQ(c.n_layers, hf["n_layers"].get<std::int64_t>());
  EXPECT_EQ(c.n_heads, hf["n_heads"].get<std::int64_t>());
  EXPECT_EQ(c.dim, hf["dim"].get<std::int64_t>());
  EXPECT_EQ(c.hidden_dim, hf["hidden_dim"].get<std::int64_t>());
  EXPECT_EQ(c.dropout, hf["dropout"].get<double>());
  EXPECT_EQ(c.attention_dropout, hf["attention_dropout"].get<double>());
  EXPECT_EQ(c.activation, hf["activation"].get<std::string>());
  EXPECT_EQ(c.initializer_range, hf["initializer_range"].get<double>());
  EXPECT_EQ(c.qa_dropout, hf["qa_dropout"].get<double>());
  EXPECT_EQ(c.seq_classif_dropout, hf["seq_classif_dropout"].get<double>());
  EXPECT_EQ(c.pad_token_id, hf["pad_token_id"].get<std::int64_t>());
  EXPECT_EQ(c.tie_word_embeddings, hf["tie_word_embeddings"].get<bool>());
  EXPECT_EQ(c.num_labels(), static_cast<std::int64_t>(hf["id2label"].size()));
}

TEST(Config, ReadsTheFixtureConfig) {
  auto c = DistilBertConfig::from_file(testing::fixture("distilbert-tiny/config.json"));
  auto j = io::read_json(testing::fixture("distilbert-tiny/config.json"));
  EXPECT_EQ(c.dim, j["dim"].get<std::int64_t>());
  EXPECT_EQ(c.num_labels(), static_cast<std::int64_t>(j["id2label"].size()));
  EXPECT_EQ(c.id2label.back(), j["id2label"][std::to_string(c.num_labels() - 1)].get<std::string>());
  EXPECT_TRUE(c.extra.empty()) << c.extra.dump();
}

TEST(Config, RejectsWhatCannotMakeAModel) {
  DistilBertConfig c;
  c.n_heads = 7;
  EXPECT_THROW(c.validate(), ConfigError);
  EXPECT_NE(error_of([&] { c.validate(); }).find("not a multiple of n_heads 7"), std::string::npos);
  EXPECT_THROW(DistilBertModel{c}, ConfigError);
  DistilBertConfig a;
  a.activation = "gelu_new";
  EXPECT_NE(error_of([&] { a.validate(); }).find("unknown activation \"gelu_new\""), std::string::npos);
  EXPECT_THROW(DistilBertConfig::from_json(io::Json::parse(R"({"activation": "swish"})")), ConfigError);
  EXPECT_THROW(DistilBertConfig::from_json(io::Json::parse(R"({"model_type": "bert"})")), ConfigError);
  EXPECT_THROW(DistilBertConfig::from_json(io::Json::parse(R"({"dim": "768"})")), FormatError);
  EXPECT_THROW(DistilBertConfig::from_json(io::Json::parse(R"({"id2label": {"0": "a", "2": "b"}})")), ConfigError);
  EXPECT_THROW(DistilBertConfig::from_json(io::Json::parse(R"({"dropout": 1.5})")), ConfigError);
  // Found by the model_config fuzz target (tests/fuzz/regressions/model_config): num_labels 1e12
  // made a trillion label names (a hang, then out of memory) before anything refused it.
  const auto regression = testing::source_dir() / "tests/fuzz/regressions/model_config/num-labels-1e12.json";
  const std::string huge = error_of([&] { DistilBertConfig::from_file(regression); });
  EXPECT_NE(huge.find("num_labels is 1000000000000"), std::string::npos) << huge;
  EXPECT_NE(huge.find(regression.string()), std::string::npos) << huge;
  EXPECT_THROW(DistilBertConfig().set_num_labels(kMaxNumLabels + 1), ConfigError);
}

TEST(Config, LabelsFromId2labelOrNumLabelsAndExtraKeysSurvive) {
  auto c = DistilBertConfig::from_json(io::Json::parse(
      R"({"id2label": {"1": "POS", "0": "NEG", "10": "X", "2": "a", "3": "b", "4": "c", "5": "d", "6": "e",
          "7": "f", "8": "g", "9": "h"}, "tie_weights_": true, "output_past": true})"));
  ASSERT_EQ(c.num_labels(), 11);
  EXPECT_EQ(c.id2label[0], "NEG");
  EXPECT_EQ(c.id2label[10], "X");
  auto j = c.to_json({"DistilBertForMaskedLM"});
  EXPECT_EQ(j["tie_weights_"], true);
  EXPECT_EQ(j["label2id"]["POS"], 1);
  EXPECT_EQ(DistilBertConfig::from_json(io::Json::parse(R"({"num_labels": 3})")).id2label,
            (std::vector<std::string>{"LABEL_0", "LABEL_1", "LABEL_2"}));
  // The default two labels are not written, as to_diff_dict leaves them out.
  DistilBertConfig two;
  EXPECT_FALSE(two.to_json({}).contains("id2label"));
}

// ----- load / save --------------------------------------------------------------------------

TEST(Checkpoint, SavingALoadedFixtureGivesByteIdenticalFiles) {
  testing::ScratchDir dir;
  for (const auto& name : kFixtures) {
    SCOPED_TRACE(name);
    load_and_save(testing::fixture(name), dir / name);
    EXPECT_EQ(io::read_file(dir / name / "model.safetensors"), io::read_file(testing::fixture(name + "/model.safetensors")));
    EXPECT_EQ(io::read_file(dir / name / "config.json"), io::read_file(testing::fixture(name + "/config.json")));
  }
}

TEST(Checkpoint, LoadSaveLoadIsBitwiseAndKeepsNamesDtypesShapes) {
  testing::ScratchDir dir;
  for (const auto& name : kFixtures) {
    SCOPED_TRACE(name);
    load_and_save(testing::fixture(name), dir / name);
    io::SafetensorsFile ours(dir / name / "model.safetensors"), theirs(testing::fixture(name + "/model.safetensors"));
    ASSERT_EQ(ours.names(), theirs.names());
    EXPECT_EQ(ours.metadata(), theirs.metadata());
    for (const auto& n : theirs.names()) {
      EXPECT_EQ(ours.info(n).dtype, theirs.info(n).dtype) << n;
      EXPECT_EQ(ours.info(n).shape, theirs.info(n).shape) << n;
    }
    // Reloading what we saved gives the same tensors, bit for bit.
    io::NamedTensors a, b;
    if (is_mlm(name)) {
      a = state_dict(*load_masked_lm(testing::fixture(name)));
      b = state_dict(*load_masked_lm(dir / name));
    } else {
      a = state_dict(*load_sequence_classification(testing::fixture(name)));
      b = state_dict(*load_sequence_classification(dir / name));
    }
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].first, b[i].first);
      EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
      EXPECT_TRUE(torch::equal(a[i].second, theirs.tensor(a[i].first))) << a[i].first;
    }
  }
}

TEST(Checkpoint, MlmCheckpointAsClassifierReportsWhatTransformersReports) {
  auto manifest = io::read_json(testing::fixture("manifest.json"));
  const auto& want = manifest["tiny"]["distilbert-tiny-mlm"]["load_as_sequence_classification"];
  LoadOptions options;
  options.allow_missing_head = true;
  options.seed = 5;
  LoadReport report;
  auto model = load_sequence_classification(testing::fixture("distilbert-tiny-mlm"), options, &report);
  EXPECT_EQ(report.missing_keys, want["missing_keys"].get<std::vector<std::string>>());
  EXPECT_EQ(report.unexpected_keys, want["unexpected_keys"].get<std::vector<std::string>>());
  EXPECT_EQ(report.mismatched_keys, want["mismatched_keys"].get<std::vector<std::string>>());
  EXPECT_FALSE(report.complete());
  // The encoder came from the file; the head is the fresh init of the seed.
  io::SafetensorsFile file(testing::fixture("distilbert-tiny-mlm/model.safetensors"));
  auto params = model->named_parameters();
  EXPECT_TRUE(torch::equal(params["distilbert.embeddings.word_embeddings.weight"],
                           file.tensor("distilbert.embeddings.word_embeddings.weight")));
  DistilBertForSequenceClassification fresh(model->config, 5);
  EXPECT_TRUE(torch::equal(params["classifier.weight"], fresh->named_parameters()["classifier.weight"]));
  EXPECT_TRUE(torch::equal(params["pre_classifier.bias"], torch::zeros_like(params["pre_classifier.bias"])));
}

TEST(Checkpoint, MissingHeadIsAnErrorListingEveryKeyUnlessAllowed) {
  std::string what = error_of([] { load_sequence_classification(testing::fixture("distilbert-tiny-mlm")); });
  auto manifest = io::read_json(testing::fixture("manifest.json"));
  const auto& want = manifest["tiny"]["distilbert-tiny-mlm"]["load_as_sequence_classification"];
  ASSERT_FALSE(what.empty());
  for (const auto& k : want["missing_keys"]) EXPECT_NE(what.find(k.get<std::string>()), std::string::npos) << what;
  for (const auto& k : want["unexpected_keys"]) EXPECT_NE(what.find(k.get<std::string>()), std::string::npos) << what;
  EXPECT_NE(what.find("allow_missing_head"), std::string::npos) << what;
  // A classifier checkpoint loaded as MLM: the MLM head is missing the same way.
  LoadOptions options;
  options.allow_missing_head = true;
  LoadReport report;
  load_masked_lm(testing::fixture("distilbert-tiny"), options, &report);
  EXPECT_EQ(report.unexpected_keys,
            (std::vector<std::string>{"classifier.bias", "classifier.weight", "pre_classifier.bias", "pre_classifier.weight"}));
  EXPECT_EQ(report.missing_keys.size(), 5u);
}

TEST(Checkpoint, MissingUnexpectedAndMisshapedTensorsAreOneError) {
  testing::ScratchDir dir;
  fs::path folder = copy_checkpoint(dir, "distilbert-tiny");
  auto tensors = io::load_safetensors(folder / "model.safetensors");
  tensors.erase("distilbert.transformer.layer.1.ffn.lin2.bias");
  tensors["distilbert.transformer.layer.9.extra"] = torch::ones({3});
  tensors["distilbert.embeddings.LayerNorm.weight"] = torch::ones({7});
  io::save_safetensors(folder / "model.safetensors", io::NamedTensors(tensors.begin(), tensors.end()), {{"format", "pt"}});
  LoadOptions lenient;
  lenient.allow_missing_head = true;  // never excuses encoder problems
  for (const auto& options : {LoadOptions{}, lenient}) {
    try {
      load_sequence_classification(folder, options);
      ADD_FAILURE() << "no error";
    } catch (const FormatError& e) {
      std::string what = e.what();
      EXPECT_NE(what.find("missing tensors (1): distilbert.transformer.layer.1.ffn.lin2.bias"), std::string::npos) << what;
      EXPECT_NE(what.find("unexpected tensors (1): distilbert.transformer.layer.9.extra"), std::string::npos) << what;
      EXPECT_NE(what.find("distilbert.embeddings.LayerNorm.weight: file F32[7], model F32[32]"), std::string::npos) << what;
      EXPECT_NE(e.where().find("model.safetensors"), std::string::npos);
    }
  }
  // Four labels in the file, two asked for: a mis-shaped head, as from_pretrained reports.
  LoadOptions relabel;
  relabel.num_labels = 2;
  EXPECT_NE(error_of([&] { load_sequence_classification(testing::fixture("distilbert-tiny"), relabel); }).find("classifier.weight"),
            std::string::npos);
}

// config.json is checked against the weights' header before the model is allocated: sizes
// that would hang or exhaust the allocator are one FormatError naming the tensor.
TEST(Checkpoint, ConfigThatDoesNotFitTheWeightsIsRefusedBeforeAllocating) {
  testing::ScratchDir dir;
  const fs::path folder = copy_checkpoint(dir, "distilbert-tiny");
  const io::Json original = io::read_json(folder / "config.json");
  for (const auto& [key, value, expected] : std::vector<std::tuple<std::string, double, std::string>>{
           {"n_layers", 1e9, "it describes about"},
           {"vocab_size", 1e12, "distilbert.embeddings.word_embeddings.weight has shape"},
           {"dim", 1099511627776.0, "has shape"},
           {"hidden_dim", 4096, "ffn.lin1.weight has shape"}}) {
    io::Json changed = original;
    changed[key] = static_cast<std::int64_t>(value);
    io::write_file_atomic(folder / "config.json", changed.dump());
    const std::string what = error_of([&] { load_sequence_classification(folder); });
    EXPECT_NE(what.find("config.json does not fit the weights: "), std::string::npos) << key << ": " << what;
    EXPECT_NE(what.find(expected), std::string::npos) << key << ": " << what;
  }
  // A different number of blocks stays allowed, as in transformers: the extra one is reported.
  io::Json fewer = original;
  fewer["n_layers"] = original["n_layers"].get<std::int64_t>() - 1;
  io::write_file_atomic(folder / "config.json", fewer.dump());
  EXPECT_NE(error_of([&] { load_sequence_classification(folder); }).find("unexpected tensors"), std::string::npos);
}

TEST(Checkpoint, HalfPrecisionCheckpointsLoadAsFloat32) {
  testing::ScratchDir dir;
  for (auto type : {torch::kHalf, torch::kBFloat16}) {
    fs::path folder = copy_checkpoint(dir, "distilbert-tiny", c10::toString(type));
    auto tensors = io::load_safetensors(testing::fixture("distilbert-tiny/model.safetensors"));
    io::NamedTensors low;
    for (const auto& [n, t] : tensors) low.emplace_back(n, t.to(type));
    io::save_safetensors(folder / "model.safetensors", low, {{"format", "pt"}});
    LoadReport report;
    auto model = load_sequence_classification(folder, {}, &report);
    EXPECT_EQ(report.converted_keys.size(), tensors.size());
    for (const auto& [n, t] : low) {
      auto p = model->named_parameters()[n];
      EXPECT_EQ(p.scalar_type(), torch::kFloat);
      EXPECT_TRUE(torch::equal(p, t.to(torch::kFloat))) << n;
    }
  }
}

TEST(Checkpoint, LegacyNamesAndABareEncoderCheckpointLoad) {
  testing::ScratchDir dir;
  fs::path folder = copy_checkpoint(dir, "distilbert-tiny-mlm");
  auto tensors = io::load_safetensors(testing::fixture("distilbert-tiny-mlm/model.safetensors"));
  io::NamedTensors renamed;
  for (const auto& [n, t] : tensors) {
    if (n.rfind("distilbert.", 0) != 0) continue;  // a DistilBertModel checkpoint: no head, no prefix
    std::string k = n.substr(std::string("distilbert.").size());
    if (k == "embeddings.LayerNorm.weight") k = "embeddings.LayerNorm.gamma";
    renamed.emplace_back(k, t);
  }
  io::save_safetensors(folder / "model.safetensors", renamed);
  LoadOptions options;
  options.allow_missing_head = true;
  LoadReport report;
  auto model = load_sequence_classification(folder, options, &report);
  EXPECT_TRUE(report.unexpected_keys.empty()) << report.summary();
  EXPECT_EQ(report.missing_keys.size(), 4u) << report.summary();
  EXPECT_EQ(report.renamed_keys.size(), renamed.size());
  EXPECT_TRUE(torch::equal(model->named_parameters()["distilbert.embeddings.LayerNorm.weight"],
                           tensors.at("distilbert.embeddings.LayerNorm.weight")));
}

TEST(Checkpoint, MissingFilesAreClear) {
  testing::ScratchDir dir;
  EXPECT_THROW(load_sequence_classification(dir.path()), IoError);
  fs::create_directories(dir / "m");
  fs::copy_file(testing::fixture("distilbert-tiny/config.json"), dir / "m" / "config.json");
  testing::write_text(dir / "m" / "pytorch_model.bin", "x");
  std::string what = error_of([&] { load_sequence_classification(dir / "m"); });
  EXPECT_NE(what.find("pytorch_model.bin"), std::string::npos) << what;
}

// ----- parameter counts ---------------------------------------------------------------------

TEST(Counts, DistilbertBaseHasTheParametersTransformersCounts) {
  auto counts = io::read_json(testing::fixture("param_counts.json"));
  for (std::int64_t labels : {2, 4}) {
    DistilBertConfig config = DistilBertConfig::from_json(counts["config_json_written_by_DistilBertConfig"]);
    config.set_num_labels(labels);
    DistilBertForSequenceClassification model(config, 0);
    const auto& want = counts["full"][std::to_string(labels)];
    EXPECT_EQ(count_parameters(*model), want["all"].get<std::int64_t>()) << labels;
    EXPECT_EQ(count_parameters(*model, true), want["trainable"].get<std::int64_t>()) << labels;
    for (auto& p : model->parameters()) p.set_requires_grad(false);
    EXPECT_EQ(count_parameters(*model, true), 0);
  }
}

}  // namespace
}  // namespace loraft::model
