// Prompt tuning (PEFT 0.13.2 PromptTuningConfig, RANDOM and TEXT init) against the fixtures of
// methods/prompt_tuning_{random,text}/: loading PEFT's adapter reproduces its logits and states,
// init reproduces init.safetensors, names and counts are PEFT's, saving writes PEFT's folder,
// one forward and backward from train/params_step0 gives train/grads, and bad folders and
// configs are clear errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "loraft/adapter/lora.h"
#include "loraft/adapter/peft_io.h"
#include "loraft/adapter/prompt_tuning.h"
#include "loraft/core/error.h"
#include "loraft/io/file.h"
#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"
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
using testing_support::tiny_model_without_dropout;

const std::vector<std::string> kFolders{"methods/prompt_tuning_random", "methods/prompt_tuning_text"};

std::string path_in(const std::string& dir, const std::string& file) { return dir + "/" + file; }

// <dir>/<name>.json, the record of what PEFT did (tests/fixtures/README.md, methods/).
Json record_of(const std::string& dir) {
  return io::read_json(testing::fixture(path_in(dir, dir.substr(dir.rfind('/') + 1) + ".json")));
}

// The tokenizer's ids of the TEXT init text, [CLS]/[SEP] included, as recorded with PEFT's
// tokenizer (the adapter tests do not link loraft's text component).
std::vector<std::int64_t> text_init_ids() {
  return record_of("methods/prompt_tuning_text")["text_init_tokenization"]["input_ids"].get<std::vector<std::int64_t>>();
}

TEST(PromptTuningAdapter, LoadingPeftsAdaptersReproducesTheirLogits) {
  for (const auto& dir : kFolders) {
    SCOPED_TRACE(dir);
    auto m = tiny_model();
    PromptTuningConfig c = load_prompt_adapter(testing::fixture(path_in(dir, "adapter")), *m);
    EXPECT_EQ(c.num_virtual_tokens, 4);
    EXPECT_EQ(c.prompt_tuning_init, dir.find("text") != std::string::npos ? PromptInit::text : PromptInit::random);
    io::SafetensorsFile file(testing::fixture(path_in(dir, "adapter/adapter_model.safetensors")));
    EXPECT_TRUE(torch::equal(m->distilbert->embeddings->virtual_tokens, file.tensor("prompt_embeddings")));
    auto e = io::load_safetensors(testing::fixture(path_in(dir, "expected.safetensors")));
    auto out = method_outputs(m);
    expect_close(out.logits, e.at("logits_adapter"), "logits_adapter");
    expect_close(out.logits, e.at("logits_reloaded"), "logits_reloaded");
    ASSERT_EQ(out.last_hidden_state.sizes(), e.at("last_hidden_state_adapter").sizes());  // [6, 4 + T, 32]
    expect_close(out.last_hidden_state, e.at("last_hidden_state_adapter"), "last_hidden_state_adapter");
  }
}

// TEXT: the word-embedding rows of the first 4 ids of "[CLS] c ##l ##a ##s ..." (2, 49, 84, 73),
// exactly; the heads are the base model's (the trainable tensors straight after get_peft_model).
TEST(PromptTuningInit, TextInitIsTheWordEmbeddingRowsOfTheTokenisedText) {
  const std::string dir = "methods/prompt_tuning_text";
  Json record = record_of(dir);
  PromptTuningConfig c = prompt_tuning_from_peft_json(record["adapter_config_as_saved"], "prompt_tuning_text.json");
  auto m = tiny_model();
  apply_prompt_tuning(*m, c, record["init_seed"].get<std::uint64_t>(), text_init_ids());
  const auto used = record["text_init_tokenization"]["used_ids (first num_virtual_tokens, repeated if shorter)"]
                        .get<std::vector<std::int64_t>>();
  EXPECT_EQ(used, (std::vector<std::int64_t>{2, 49, 84, 73}));
  const torch::Tensor& prompt = m->distilbert->embeddings->virtual_tokens;
  EXPECT_TRUE(torch::equal(prompt, m->distilbert->embeddings->word_embeddings->weight.index_select(
                                       0, torch::tensor(used, torch::kLong))));
  auto init = io::load_safetensors(testing::fixture(path_in(dir, "init.safetensors")));
  std::size_t compared = 0;
  for (auto& p : m->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    const std::string name = peft_runtime_name(p.key(), c);
    ASSERT_TRUE(init.count(name)) << name;
    EXPECT_TRUE(torch::equal(p.value(), init.at(name))) << name;
    ++compared;
  }
  EXPECT_EQ(compared, init.size());
}

// RANDOM: torch.manual_seed(init_seed), then PEFT's nn.Embedding(4, 32) draws N(0, 1); the same
// stream from a LibTorch CPU generator gives the same values, bit for bit.
TEST(PromptTuningInit, RandomInitIsTorchsNormalDrawFromTheSeed) {
  const std::string dir = "methods/prompt_tuning_random";
  Json record = record_of(dir);
  PromptTuningConfig c = prompt_tuning_from_peft_json(record["adapter_config_as_saved"], "prompt_tuning_random.json");
  auto m = tiny_model();
  torch::manual_seed(99);
  const torch::Tensor caller_next = torch::randn({3});
  torch::manual_seed(99);
  apply_prompt_tuning(*m, c, record["init_seed"].get<std::uint64_t>());
  EXPECT_TRUE(torch::equal(torch::randn({3}), caller_next)) << "the caller's generator was used";
  auto init = io::load_safetensors(testing::fixture(path_in(dir, "init.safetensors")));
  EXPECT_TRUE(torch::equal(m->distilbert->embeddings->virtual_tokens, init.at("prompt_encoder.default.embedding.weight")));
  for (auto& p : m->named_parameters()) {
    if (p.value().requires_grad()) {
      EXPECT_TRUE(torch::equal(p.value(), init.at(peft_runtime_name(p.key(), c)))) << p.key();
    }
  }
  // Another seed, another prompt.
  auto other = tiny_model();
  apply_prompt_tuning(*other, c, record["init_seed"].get<std::uint64_t>() + 1);
  EXPECT_FALSE(torch::equal(other->distilbert->embeddings->virtual_tokens, m->distilbert->embeddings->virtual_tokens));
}

// PromptEmbedding.__init__: ids longer than nv are cut, shorter ones repeated and then cut.
TEST(PromptTuningInit, TextIdsAreCutOrRepeatedToTheNumberOfVirtualTokens) {
  PromptTuningConfig c;
  c.prompt_tuning_init = PromptInit::text;
  c.prompt_tuning_init_text = "a b";
  c.num_virtual_tokens = 5;
  auto m = tiny_model();
  apply_prompt_tuning(*m, c, 0, {10, 11});
  const auto& table = m->distilbert->embeddings->word_embeddings->weight;
  EXPECT_TRUE(torch::equal(m->distilbert->embeddings->virtual_tokens,
                           table.index_select(0, torch::tensor({10, 11, 10, 11, 10}, torch::kLong))));
  c.num_virtual_tokens = 2;
  auto cut = tiny_model();
  apply_prompt_tuning(*cut, c, 0, {12, 13, 14});
  EXPECT_TRUE(torch::equal(cut->distilbert->embeddings->virtual_tokens,
                           table.index_select(0, torch::tensor({12, 13}, torch::kLong))));
}

TEST(PromptTuningCounts, TrainableNamesShapesAndCountsArePefts) {
  for (const auto& dir : kFolders) {
    SCOPED_TRACE(dir);
    Json record = record_of(dir);
    auto m = tiny_model();
    PromptTuningConfig c = load_prompt_adapter(testing::fixture(path_in(dir, "adapter")), *m);
    EXPECT_EQ(c.modules_to_save, record["modules_to_save_resolved"].get<std::vector<std::string>>());
    expect_peft_accounting(*m, c.modules_to_save, record,
                           [&](const std::string& n) { return peft_runtime_name(n, c); });
  }
}

TEST(PromptTuningAdapter, SavedAdapterIsPeftsFolderAndReloads) {
  for (const auto& dir : kFolders) {
    SCOPED_TRACE(dir);
    auto m = tiny_model();
    PromptTuningConfig c = load_prompt_adapter(testing::fixture(path_in(dir, "adapter")), *m);
    testing::ScratchDir out;
    save_prompt_adapter(out.path(), *m, c);
    Json record = record_of(dir);
    io::SafetensorsFile saved(out / "adapter_model.safetensors");
    std::vector<std::string> want;
    for (const auto& [name, shape] : record["adapter_saved_tensors"].items()) {
      want.push_back(name);
      EXPECT_EQ(saved.info(name).shape, shape.get<std::vector<std::int64_t>>()) << name;
    }
    EXPECT_EQ(sorted(saved.names()), sorted(want));
    EXPECT_EQ(saved.metadata().at("format"), "pt");
    io::SafetensorsFile peft(testing::fixture(path_in(dir, "adapter/adapter_model.safetensors")));
    for (const auto& name : peft.names()) EXPECT_TRUE(torch::equal(saved.tensor(name), peft.tensor(name))) << name;
    EXPECT_EQ(io::read_json(out / "adapter_config.json"),
              io::read_json(testing::fixture(path_in(dir, "adapter/adapter_config.json"))));
    auto fresh = tiny_model();
    load_prompt_adapter(out.path(), *fresh);
    EXPECT_TRUE(torch::equal(method_outputs(fresh).logits, method_outputs(m).logits));
    // A model whose prompt has another length than the config's is not saved.
    c.num_virtual_tokens = 5;
    testing::ScratchDir other;
    EXPECT_THROW(save_prompt_adapter(other.path(), *m, c), ConfigError);
  }
}

// TEXT init with an empty tokenizer_name_or_path records the base model as the tokenizer (PEFT
// refuses to read a TEXT config without one).
TEST(PromptTuningAdapter, TextConfigNamesTheBaseModelAsTokenizerWhenNoneIsGiven) {
  auto m = tiny_model();
  PromptTuningConfig c;
  c.prompt_tuning_init = PromptInit::text;
  c.prompt_tuning_init_text = "classify the sentiment";
  EXPECT_THROW(to_peft_json(c, m->config), ConfigError);
  c.base_model_name_or_path = "distilbert-tiny";
  const io::OrderedJson j = to_peft_json(c, m->config);
  EXPECT_EQ(j.at("tokenizer_name_or_path"), "distilbert-tiny");
  EXPECT_EQ(j.at("prompt_tuning_init"), "TEXT");
  EXPECT_EQ(j.at("num_virtual_tokens"), 20);
  const PromptTuningConfig back = prompt_tuning_from_peft_json(Json::parse(j.dump()), "round trip");
  EXPECT_EQ(back.prompt_tuning_init_text, c.prompt_tuning_init_text);
  EXPECT_EQ(back.tokenizer_name_or_path, "distilbert-tiny");
}

TEST(PromptTuningAdapter, LoraFolderIsAConfigErrorNamingBothMethods) {
  auto m = tiny_model();
  try {
    load_prompt_adapter(testing::fixture("lora/adapter"), *m);
    ADD_FAILURE() << "loaded";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("LORA"), std::string::npos) << what;
    EXPECT_NE(what.find("PROMPT_TUNING"), std::string::npos) << what;
  }
  EXPECT_EQ(m->distilbert->embeddings->num_virtual_tokens(), 0);
  // And the other way round: a prompt-tuning folder is not a LoRA adapter.
  EXPECT_THROW(load_adapter(testing::fixture("methods/prompt_tuning_random/adapter"), *tiny_model()), ConfigError);
}

TEST(PromptTuningAdapter, MismatchedFilesAreOneFormatErrorAndLeaveTheModelUntouched) {
  testing::ScratchDir dir;
  const std::string src = "methods/prompt_tuning_random/adapter";
  Json config = io::read_json(testing::fixture(src + "/adapter_config.json"));
  config["num_virtual_tokens"] = 5;  // the file holds 4 rows
  io::write_file_atomic(dir / "adapter_config.json", config.dump());
  std::filesystem::copy_file(testing::fixture(src + "/adapter_model.safetensors"), dir / "adapter_model.safetensors");
  auto m = tiny_model();
  const torch::Tensor before = method_outputs(m).logits;
  EXPECT_THROW(load_prompt_adapter(dir.path(), *m), FormatError);
  // The heads of the LoRA adapter (base_model.model.*) are not a prompt adapter's keys.
  config["num_virtual_tokens"] = 4;
  io::write_file_atomic(dir / "adapter_config.json", config.dump());
  io::NamedTensors tensors{{"prompt_embeddings", torch::zeros({4, 32})}, {"base_model.classifier.weight", torch::zeros({4, 32})}};
  io::save_safetensors(dir / "adapter_model.safetensors", tensors, {{"format", "pt"}});
  try {
    load_prompt_adapter(dir.path(), *m);
    ADD_FAILURE() << "loaded";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("missing [base_model.classifier.bias"), std::string::npos) << e.what();
  }
  EXPECT_EQ(m->distilbert->embeddings->num_virtual_tokens(), 0);
  EXPECT_TRUE(torch::equal(method_outputs(m).logits, before));
  // A model that already has a prompt.
  load_prompt_adapter(testing::fixture(src), *m);
  EXPECT_THROW(load_prompt_adapter(testing::fixture(src), *m), ConfigError);
}

TEST(PromptTuningConfig, BadConfigsAreConfigErrors) {
  PromptTuningConfig c;
  EXPECT_NO_THROW(c.validate());
  EXPECT_EQ(c.num_virtual_tokens, 20);
  c.num_virtual_tokens = 0;
  EXPECT_THROW(c.validate(), ConfigError);
  EXPECT_THROW(apply_prompt_tuning(*tiny_model(), c, 0), ConfigError);
  c = {};
  c.prompt_tuning_init = PromptInit::text;  // without text
  EXPECT_THROW(c.validate(), ConfigError);
  EXPECT_THROW(apply_prompt_tuning(*tiny_model(), c, 0, text_init_ids()), ConfigError);
  c.prompt_tuning_init_text = "classify the sentiment";
  EXPECT_THROW(apply_prompt_tuning(*tiny_model(), c, 0), ConfigError) << "TEXT without ids";
  EXPECT_THROW(apply_prompt_tuning(*tiny_model(), c, 0, {2, 333}), ConfigError) << "id outside the vocabulary";
  c = {};
  EXPECT_THROW(apply_prompt_tuning(*tiny_model(), c, 0, {2, 3}), ConfigError) << "ids for RANDOM";
  c.task_type = "CAUSAL_LM";
  EXPECT_THROW(c.validate(), ConfigError);
  // A second prompt on the same model.
  c = {};
  auto m = tiny_model();
  apply_prompt_tuning(*m, c, 0);
  EXPECT_THROW(apply_prompt_tuning(*m, c, 0), ConfigError);
  // T + nv beyond max_position_embeddings (64) at forward.
  const auto max_pos = m->config.max_position_embeddings;
  EXPECT_NO_THROW(m->forward(torch::ones({1, max_pos - 20}, torch::kLong)));
  EXPECT_THROW(m->forward(torch::ones({1, max_pos - 19}, torch::kLong)), ConfigError);
  // Settings: names and rules.
  PromptTuningConfig s = io::settings_from_json<PromptTuningConfig>(
      Json{{"num_virtual_tokens", 8}, {"prompt_tuning_init", "text"}, {"prompt_tuning_init_text", "hi"}}, "run");
  EXPECT_EQ(s.prompt_tuning_init, PromptInit::text);
  EXPECT_EQ(io::settings_to_json(s).at("prompt_tuning_init"), "text");
  EXPECT_TRUE(io::settings_to_json(PromptTuningConfig{}).at("prompt_tuning_init_text").is_null());
  EXPECT_THROW(io::settings_from_json<PromptTuningConfig>(Json{{"prompt_tuning_init", "TEXT"}}, "run"), ConfigError);
}

TEST(PromptTuningConfig, PeftJsonThatLoraftCannotHonourIsRefused) {
  const Json good = io::read_json(testing::fixture("methods/prompt_tuning_text/adapter/adapter_config.json"));
  EXPECT_NO_THROW(prompt_tuning_from_peft_json(good, "ok"));
  auto refused = [&](const char* key, const Json& value) {
    Json j = good;
    j[key] = value;
    EXPECT_THROW(prompt_tuning_from_peft_json(j, "bad"), ConfigError) << key << " = " << value.dump();
  };
  refused("peft_type", "LORA");
  refused("prompt_tuning_init", "SAMPLE_VOCAB");
  refused("prompt_tuning_init_text", nullptr);  // PEFT: TEXT needs the text ...
  refused("tokenizer_name_or_path", nullptr);   // ... and a tokenizer
  refused("tokenizer_kwargs", Json{{"use_fast", false}});
  refused("num_transformer_submodules", 2);
  refused("task_type", "SEQ_2_SEQ_LM");
  refused("num_virtual_tokens", 0);
  Json missing = good;
  missing.erase("num_virtual_tokens");
  EXPECT_THROW(prompt_tuning_from_peft_json(missing, "bad"), FormatError);
}

// One forward and backward as the reference's train/ run: the base without dropout, eager
// attention, train mode, the adapter loaded (= params_step0), mean cross-entropy on the batch.
TEST(PromptTuningTrain, GradientsFromParamsStep0EqualPefts) {
  for (const auto& dir : kFolders) {
    SCOPED_TRACE(dir);
    auto m = tiny_model_without_dropout();
    PromptTuningConfig c = load_prompt_adapter(testing::fixture(path_in(dir, "adapter")), *m);
    auto step0 = io::load_safetensors(testing::fixture(path_in(dir, "train/params_step0.safetensors")));
    auto grads = io::load_safetensors(testing::fixture(path_in(dir, "train/grads.safetensors")));
    Json train = io::read_json(testing::fixture(path_in(dir, "train/train.json")));
    auto in = method_batch();
    torch::Tensor loss = torch::nn::functional::cross_entropy(m->forward(in.at("input_ids"), in.at("attention_mask")),
                                                              in.at("labels"));
    EXPECT_NEAR(loss.item<double>(), train["loss"].get<double>(), 1e-5 * train["loss"].get<double>());
    loss.backward();
    std::size_t compared = 0;
    for (auto& p : m->named_parameters()) {
      if (!p.value().requires_grad()) continue;
      const std::string name = peft_runtime_name(p.key(), c);
      ASSERT_TRUE(step0.count(name) && grads.count(name)) << name;
      EXPECT_TRUE(torch::equal(p.value(), step0.at(name))) << name;
      const torch::Tensor& e = grads.at(name);
      const double err = (p.value().grad() - e).abs().max().item<double>(), scale = e.abs().max().item<double>();
      EXPECT_LE(err, 1e-5 * scale + 1e-9) << name << " max abs diff " << err << " scale " << scale;
      ++compared;
    }
    EXPECT_EQ(compared, grads.size());
  }
}

}  // namespace
}  // namespace loraft::adapter
