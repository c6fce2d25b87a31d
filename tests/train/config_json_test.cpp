// The run configurations' JSON, pinned: run folders are named by its hash, so a change here
// would orphan every recorded run. Literals taken from the JSON the configurations wrote before
// their fields were declared once (TrainConfig::visit, PretrainConfig::visit).
#include <gtest/gtest.h>

#include <map>

#include "loraft/train/pretrainer.h"
#include "loraft/train/trainer.h"

namespace loraft::train {
namespace {

std::vector<std::pair<std::string, io::Json>> train_configs() {
  TrainConfig lora;  // the report's defaults
  TrainConfig full;
  full.method = Method::full;
  full.learning_rate = 2e-5;
  full.epochs = 1;
  full.padding = data::Padding::max_length;
  TrainConfig plus;
  plus.method = Method::loraplus;
  plus.loraplus_ratio = 16;
  plus.loraplus_decay = optim::LoraPlusDecay::corrected;
  plus.lora.r = 4;
  plus.lora.target_regex = ".*q_lin";
  plus.lora.layers_to_transform = {0, 1};
  plus.gradient_accumulation_steps = 2;
  plus.autocast = Autocast::bf16;
  plus.seed = 7;
  return {{"lora", lora.to_json()}, {"full", full.to_json()}, {"loraplus", plus.to_json()}};
}

// What the configurations wrote (nlohmann::json's dump: sorted keys, integers as integers).
TEST(ConfigJson, TrainConfigJsonIsPinned) {
  const std::map<std::string, std::string> want{
      {"lora", R"({"autocast":"none","batch_size":16,"device":"cpu","epochs":3,"eval_batch_size":16,"gradient_accumulation_steps":1,"learning_rate":5e-05,"lora":{"layers_pattern":"","layers_to_transform":[],"lora_alpha":32.0,"lora_dropout":0.1,"modules_to_save":["classifier","score"],"r":8,"target_modules":["q_lin","v_lin"],"target_regex":null,"use_rslora":false},"loraplus_decay":null,"loraplus_lr_embedding":null,"loraplus_ratio":null,"max_grad_norm":1.0,"max_length":128,"method":"lora","padding":"longest","seed":42,"warmup_steps":0,"weight_decay":0.01})"},
      {"full", R"({"autocast":"none","batch_size":16,"device":"cpu","epochs":1,"eval_batch_size":16,"gradient_accumulation_steps":1,"learning_rate":2e-05,"lora":null,"loraplus_decay":null,"loraplus_lr_embedding":null,"loraplus_ratio":null,"max_grad_norm":1.0,"max_length":128,"method":"full","padding":"max_length","seed":42,"warmup_steps":0,"weight_decay":0.01})"},
      {"loraplus", R"({"autocast":"bf16","batch_size":16,"device":"cpu","epochs":3,"eval_batch_size":16,"gradient_accumulation_steps":2,"learning_rate":5e-05,"lora":{"layers_pattern":"","layers_to_transform":[0,1],"lora_alpha":32.0,"lora_dropout":0.1,"modules_to_save":["classifier","score"],"r":4,"target_modules":["q_lin","v_lin"],"target_regex":".*q_lin","use_rslora":false},"loraplus_decay":"corrected","loraplus_lr_embedding":1e-06,"loraplus_ratio":16.0,"max_grad_norm":1.0,"max_length":128,"method":"loraplus","padding":"longest","seed":7,"warmup_steps":0,"weight_decay":0.01})"}};
  for (auto& [name, j] : train_configs()) {
    EXPECT_EQ(j.dump(), want.at(name)) << name;
    EXPECT_EQ(TrainConfig::from_json(j, name).to_json().dump(), want.at(name)) << name << " round trip";
  }
}

// per_batch dropout seeding is recorded (it changes the result); stream, the default, is
// left out so that every earlier run keeps its folder's name (checked above).
TEST(ConfigJson, DropoutSeedingIsRecordedOnlyWhenNotTheDefault) {
  TrainConfig c;
  c.dropout_seeding = DropoutSeeding::per_batch;
  const io::Json j = c.to_json();
  EXPECT_EQ(j.at("dropout_seeding"), "per_batch");
  EXPECT_EQ(TrainConfig::from_json(j, "test").dropout_seeding, DropoutSeeding::per_batch);
  EXPECT_FALSE(TrainConfig{}.to_json().contains("dropout_seeding"));
  io::Json bad = j;
  bad["dropout_seeding"] = "per_rank";
  EXPECT_THROW(TrainConfig::from_json(bad, "test"), ConfigError);
  // The seed of a micro-batch depends on seed, epoch and position, not on anything else.
  EXPECT_EQ(micro_batch_seed(42, 1, 8), micro_batch_seed(42, 1, 8));
  EXPECT_NE(micro_batch_seed(42, 1, 8), micro_batch_seed(42, 1, 16));
  EXPECT_NE(micro_batch_seed(42, 1, 8), micro_batch_seed(42, 2, 8));
  EXPECT_NE(micro_batch_seed(42, 1, 8), micro_batch_seed(43, 1, 8));
}

// DoRA is a method of its own: the run's JSON names it (and so its folder differs from LoRA's),
// holds the LoRA settings, and reads back to a configuration that injects DoRA. lora.use_dora
// is not a setting: set by hand on another method it would go unrecorded, so it is refused.
TEST(ConfigJson, DoraIsAMethodWhoseJsonRoundTrips) {
  TrainConfig dora;
  dora.method = Method::dora;
  dora.lora.r = 4;
  dora.lora.lora_alpha = 16;
  const std::string want =
      R"({"autocast":"none","batch_size":16,"device":"cpu","epochs":3,"eval_batch_size":16,"gradient_accumulation_steps":1,"learning_rate":5e-05,"lora":{"layers_pattern":"","layers_to_transform":[],"lora_alpha":16.0,"lora_dropout":0.1,"modules_to_save":["classifier","score"],"r":4,"target_modules":["q_lin","v_lin"],"target_regex":null,"use_rslora":false},"loraplus_decay":null,"loraplus_lr_embedding":null,"loraplus_ratio":null,"max_grad_norm":1.0,"max_length":128,"method":"dora","padding":"longest","seed":42,"warmup_steps":0,"weight_decay":0.01})";
  EXPECT_EQ(dora.to_json().dump(), want);
  const TrainConfig back = TrainConfig::from_json(dora.to_json(), "dora");
  EXPECT_EQ(back.method, Method::dora);
  EXPECT_EQ(back.to_json().dump(), want);
  EXPECT_TRUE(back.lora_config().use_dora);
  EXPECT_EQ(back.lora_config().r, 4);
  EXPECT_EQ(parse_method("dora"), Method::dora);
  EXPECT_STREQ(to_string(Method::dora), "dora");
  TrainConfig lora;
  EXPECT_FALSE(lora.lora_config().use_dora);
  lora.lora.use_dora = true;
  EXPECT_THROW(lora.validate(), ConfigError);
  dora.lora.use_dora = true;  // what the method implies anyway
  EXPECT_NO_THROW(dora.validate());
}

// IA3 and prompt tuning: each method's own settings object is recorded under its key (only for
// that method: the JSON of the other methods is unchanged, pinned above), reads back, and a
// setting of another method given in a file is refused naming it.
TEST(ConfigJson, Ia3AndPromptTuningHaveSettingsOfTheirOwn) {
  TrainConfig ia3;
  ia3.method = Method::ia3;
  ia3.ia3.target_modules = {"k_lin", "v_lin", "lin1"};
  ia3.ia3.feedforward_modules = {"lin1"};
  TrainConfig prompt;
  prompt.method = Method::prompt;
  prompt.prompt.num_virtual_tokens = 8;
  prompt.prompt.prompt_tuning_init = adapter::PromptInit::text;
  prompt.prompt.prompt_tuning_init_text = "classify the sentiment";
  const io::Json i = ia3.to_json(), p = prompt.to_json();
  EXPECT_EQ(i.at("ia3").dump(), R"({"feedforward_modules":["lin1"],"modules_to_save":["classifier","score"],"target_modules":["k_lin","v_lin","lin1"]})");
  EXPECT_EQ(p.at("prompt").dump(), R"({"modules_to_save":["classifier","score"],"num_virtual_tokens":8,"prompt_tuning_init":"text","prompt_tuning_init_text":"classify the sentiment"})");
  EXPECT_TRUE(i.at("lora").is_null());
  EXPECT_FALSE(i.contains("prompt"));
  EXPECT_FALSE(p.contains("ia3"));
  EXPECT_FALSE(TrainConfig{}.to_json().contains("ia3"));
  EXPECT_EQ(TrainConfig::from_json(i, "ia3").to_json(), i);
  EXPECT_EQ(TrainConfig::from_json(p, "prompt").to_json(), p);
  EXPECT_EQ(TrainConfig::from_json(p, "prompt").prompt.num_virtual_tokens, 8);
  EXPECT_EQ(TrainConfig{}.modules_to_save(), TrainConfig{}.lora.modules_to_save);
  EXPECT_TRUE([] { TrainConfig f; f.method = Method::full; return f.modules_to_save(); }().empty());

  // A file for IA3 with a LoRA rank: the rank does not apply.
  io::Json bad = i;
  bad["lora"] = io::Json{{"r", 16}};
  const TrainConfig read = TrainConfig::from_json(bad, "bad.json");
  try {
    io::refuse_inapplicable_settings(bad, read, "method ia3");
    ADD_FAILURE() << "lora.r accepted for ia3";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("lora.r does not apply to method ia3"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(io::refuse_inapplicable_settings(i, TrainConfig::from_json(i, "ia3"), "method ia3"));
  // The init text applies to text initialisation only.
  io::Json random = p;
  random["prompt"]["prompt_tuning_init"] = "random";
  EXPECT_THROW(io::refuse_inapplicable_settings(random, TrainConfig::from_json(random, "random"), "method prompt"),
               ConfigError);
  EXPECT_EQ(parse_method("ia3"), Method::ia3);
  EXPECT_EQ(parse_method("prompt"), Method::prompt);
  EXPECT_EQ(parse_method("adapter"), Method::adapter);
  EXPECT_THROW(parse_method("adapters"), ConfigError);
  TrainConfig bottleneck;
  bottleneck.method = Method::adapter;
  bottleneck.bottleneck.variant = adapter::BottleneckVariant::houlsby;
  EXPECT_EQ(bottleneck.to_json().at("bottleneck").dump(), R"({"non_linearity":null,"reduction_factor":16,"variant":"houlsby"})");
  EXPECT_EQ(TrainConfig::from_json(bottleneck.to_json(), "b").to_json(), bottleneck.to_json());
  EXPECT_TRUE(bottleneck.modules_to_save().empty());
  TrainConfig no_targets = ia3;
  no_targets.ia3.target_modules.clear();
  EXPECT_THROW(no_targets.validate(), ConfigError);
  TrainConfig no_tokens = prompt;
  no_tokens.prompt.num_virtual_tokens = 0;
  EXPECT_THROW(no_tokens.validate(), ConfigError);
}

TEST(ConfigJson, PretrainConfigJsonIsPinned) {
  PretrainConfig p;
  EXPECT_EQ(p.to_json().dump(), R"({"batch_size":32,"device":"cpu","epochs":1,"eval_batch_size":64,"learning_rate":0.0005,"mask_token_id":103,"max_grad_norm":1.0,"max_steps":0,"mlm_probability":0.15,"seed":42,"vocab_size":30522,"warmup_steps":0,"weight_decay":0.01})");
  p.cls_bow_weight = 1;  // written only when positive, so that MLM-only runs keep their names
  p.max_steps = 100;
  EXPECT_EQ(p.to_json().dump(), R"({"batch_size":32,"cls_bow_weight":1.0,"device":"cpu","epochs":1,"eval_batch_size":64,"learning_rate":0.0005,"mask_token_id":103,"max_grad_norm":1.0,"max_steps":100,"mlm_probability":0.15,"seed":42,"vocab_size":30522,"warmup_steps":0,"weight_decay":0.01})");
}

}  // namespace
}  // namespace loraft::train
