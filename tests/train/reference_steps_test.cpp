// The training step against the reference: gradients of the mean cross-entropy, then 1 and 3
// optimizer steps on the same batch, for LoRA (PEFT model), DoRA, IA3, prompt tuning and full
// fine-tuning, with torch AdamW + Trainer groups, PEFT's LoRA+ groups, and Trainer clipping +
// linear schedule (fixtures lora/train, methods/*/train and full, written by transformers
// 4.46.3 and PEFT 0.13.2).
#include <gtest/gtest.h>

#include <algorithm>

#include "loraft/adapter/ia3.h"
#include "loraft/adapter/peft_io.h"
#include "loraft/adapter/prompt_tuning.h"
#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"
#include "loraft/model/pretrained.h"
#include "loraft/train/trainer.h"
#include "support/test_support.h"

namespace loraft::train {
namespace {

using io::Json;

model::DistilBertForSequenceClassification tiny_without_dropout() {
  model::LoadOptions o;
  o.adjust_config = [](model::DistilBertConfig& c) {
    c.dropout = c.attention_dropout = c.seq_classif_dropout = 0.0;
    // The fixtures were made on torch 1.13, where transformers 4.46.3 runs eager attention.
    // Three AdamW steps magnify the rounding differences of SDPA on gradients near zero
    // (k_lin in full fine-tuning) past these tolerances; SDPA equals eager on logits and
    // gradients in tests/adapter/lora_test.cpp.
    c.attn_implementation = "eager";
  };
  auto m = model::load_sequence_classification(testing::fixture("distilbert-tiny"), o);
  m->train();  // the reference ran in train mode (dropouts are 0)
  return m;
}

data::Batch fixture_batch(const std::string& file) {
  auto t = io::load_safetensors(testing::fixture(file));
  data::Batch b;
  b.input_ids = t.at("input_ids");
  b.attention_mask = t.at("attention_mask");
  b.labels = t.at("labels");
  return b;
}

// Our parameter name -> the reference's name for it.
using NameMap = std::function<std::string(const std::string&)>;

// |got - expected| <= atol + rtol |expected| elementwise for every reference tensor, except
// names containing `skip` (attention.k_lin.bias in full fine-tuning: its true gradient is 0 and
// what autograd returns is rounding noise, see tests/fixtures/README.md).
void expect_tensors(const std::vector<std::pair<std::string, torch::Tensor>>& ours,
                    const std::string& file, const NameMap& name_of, double atol, double rtol,
                    const std::string& skip = "") {
  auto expected = io::load_safetensors(testing::fixture(file));
  std::size_t compared = 0;
  for (const auto& [name, t] : ours) {
    const std::string ref = name_of(name);
    if (!skip.empty() && ref.find(skip) != std::string::npos) continue;
    ASSERT_TRUE(expected.count(ref)) << file << " lacks " << ref;
    const torch::Tensor& e = expected.at(ref);
    const double excess = ((t.detach() - e).abs() - (atol + rtol * e.abs())).max().item<double>();
    EXPECT_LE(excess, 0.0) << file << ": " << ref << " max abs diff "
                           << (t.detach() - e).abs().max().item<double>();
    ++compared;
  }
  EXPECT_EQ(compared + (skip.empty() ? 0 : 2), expected.size()) << file;
}

std::vector<std::pair<std::string, torch::Tensor>> trainable(model::DistilBertForSequenceClassification& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& p : m->named_parameters())
    if (p.value().requires_grad()) out.emplace_back(p.key(), p.value());
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> grads(model::DistilBertForSequenceClassification& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& [name, p] : trainable(m)) out.emplace_back(name, p.grad());
  return out;
}

struct Setup {
  model::DistilBertForSequenceClassification model{nullptr};
  NameMap name_of;
  std::string dir;    // fixture folder with train.json, grads.safetensors, <setting>/
  std::string skip;   // reference names left out of comparisons
};

Setup lora_setup() {
  Setup s;
  s.model = tiny_without_dropout();
  adapter::LoraConfig config = adapter::load_adapter(testing::fixture("lora/adapter"), *s.model);
  s.name_of = [config](const std::string& n) { return adapter::peft_runtime_name(n, config); };
  s.dir = "lora/train";
  return s;
}

// PEFT's DoRA adapter (methods/dora/adapter, use_dora=True), loaded as the reference loaded it
// (PeftModel.from_pretrained(..., is_trainable=True) on the base without dropout, train mode).
Setup dora_setup() {
  Setup s;
  s.model = tiny_without_dropout();
  adapter::LoraConfig config = adapter::load_adapter(testing::fixture("methods/dora/adapter"), *s.model);
  s.name_of = [config](const std::string& n) { return adapter::peft_runtime_name(n, config); };
  s.dir = "methods/dora/train";
  return s;
}

// PEFT's IA3 adapter (methods/ia3/adapter), loaded as the reference loaded it.
Setup ia3_setup() {
  Setup s;
  s.model = tiny_without_dropout();
  adapter::Ia3Config config = adapter::load_ia3_adapter(testing::fixture("methods/ia3/adapter"), *s.model);
  s.name_of = [config](const std::string& n) { return adapter::peft_runtime_name(n, config); };
  s.dir = "methods/ia3/train";
  return s;
}

// PEFT's prompt-tuning adapters (RANDOM and TEXT initialisation), loaded as the reference
// loaded them (the adapter's state into a trainable prompt-tuning model).
Setup prompt_setup(const std::string& which) {
  Setup s;
  s.model = tiny_without_dropout();
  adapter::PromptTuningConfig config =
      adapter::load_prompt_adapter(testing::fixture("methods/" + which + "/adapter"), *s.model);
  s.name_of = [config](const std::string& n) { return adapter::peft_runtime_name(n, config); };
  s.dir = "methods/" + which + "/train";
  return s;
}

// The adapters library's bottleneck folders (methods/bottleneck_*/adapter), loaded as the
// reference loaded them; its parameter names are loraft's.
Setup bottleneck_setup(const std::string& which) {
  Setup s;
  s.model = tiny_without_dropout();
  adapter::load_bottleneck_adapter(testing::fixture("methods/" + which + "/adapter"), *s.model);
  s.name_of = [](const std::string& n) { return n; };
  s.dir = "methods/" + which + "/train";
  return s;
}

Setup full_setup() {
  Setup s;
  s.model = tiny_without_dropout();
  s.name_of = [](const std::string& n) { return n; };
  s.dir = "full";
  s.skip = "attention.k_lin.bias";
  return s;
}

std::vector<optim::ParamGroup> groups_for(Setup& s, const Json& groups, bool loraplus) {
  auto params = optim::trainable_parameters(*s.model);
  const double lr = groups[0]["lr"];
  if (!loraplus) return optim::trainer_param_groups(params, lr, groups[0]["weight_decay"]);
  optim::LoraPlusOptions o;
  o.lr = lr;
  o.ratio = groups[2]["lr"].get<double>() / lr;
  o.loraplus_weight_decay = groups[0]["weight_decay"];
  return optim::loraplus_param_groups(params, o);
}

void check_gradients(Setup s) {
  SCOPED_TRACE(s.dir);
  Json train = io::read_json(testing::fixture(s.dir + "/train.json"));
  data::Batch batch = fixture_batch(s.dir == "full" ? "full/batch.safetensors" : "lora/train/batch.safetensors");
  torch::Tensor logits = s.model->forward(batch.input_ids, batch.attention_mask);
  torch::Tensor loss = torch::nn::functional::cross_entropy(logits, batch.labels);
  EXPECT_NEAR(loss.item<double>(), train["loss"].get<double>(), 1e-5 * train["loss"].get<double>());
  loss.backward();
  // Gradients: 1e-5 relative to each tensor's scale.
  auto expected = io::load_safetensors(testing::fixture(s.dir + "/grads.safetensors"));
  for (auto& [name, g] : grads(s.model)) {
    const std::string ref = s.name_of(name);
    if (!s.skip.empty() && ref.find(s.skip) != std::string::npos) continue;
    ASSERT_TRUE(expected.count(ref)) << ref;
    const torch::Tensor& e = expected.at(ref);
    const double err = (g - e).abs().max().item<double>(), scale = e.abs().max().item<double>();
    EXPECT_LE(err, 1e-5 * scale + 1e-9) << ref << " max abs diff " << err << " scale " << scale;
  }
}

void check_steps(Setup s, const std::string& setting) {
  SCOPED_TRACE(s.dir + " " + setting);
  Json train = io::read_json(testing::fixture(s.dir + "/train.json"));
  const Json& ref = train["settings"][setting];
  const bool trainer_like = setting == "trainer_like";
  optim::AdamW optimizer(groups_for(s, ref["param_groups"], setting.rfind("loraplus", 0) == 0));
  optim::LinearSchedule schedule(3, 0);
  data::Batch batch = fixture_batch(s.dir == "full" ? "full/batch.safetensors" : "lora/train/batch.safetensors");
  for (int step = 0; step < 3; ++step) {
    if (trainer_like) apply_schedule(optimizer, schedule);
    // The method fixtures (constant lr, methods/*/train.json) record the groups' lr only once.
    for (std::size_t g = 0; g < optimizer.groups().size(); ++g)
      EXPECT_DOUBLE_EQ(optimizer.groups()[g].lr, ref.contains("lr_per_group_at_each_step")
                                                     ? ref["lr_per_group_at_each_step"][step][g].get<double>()
                                                     : ref["param_groups"][g]["lr"].get<double>());
    StepOptions o;
    o.max_grad_norm = trainer_like ? 1.0 : 0.0;
    StepResult r = train_step(s.model, optimizer, {batch}, o);
    const double loss = ref["losses_before_each_step"][step];
    EXPECT_NEAR(r.loss, loss, 1e-5 * loss) << "step " << step;
    if (trainer_like || ref.contains("grad_norm_before_each_step")) {
      const double norm = ref[trainer_like ? "grad_norm_before_clip" : "grad_norm_before_each_step"][step];
      EXPECT_NEAR(r.grad_norm, norm, 1e-5 * norm) << "step " << step;
    }
    schedule.step();
    // Parameters: atol 1e-6 + rtol 1e-5 after one step, 3e-6 + 1e-5 after three (AdamW turns
    // float32 rounding of the gradients into update differences of that order).
    if (step == 0)
      expect_tensors(trainable(s.model), s.dir + "/" + setting + "/params_step1.safetensors",
                     s.name_of, 1e-6, 1e-5, s.skip);
  }
  expect_tensors(trainable(s.model), s.dir + "/" + setting + "/params_step3.safetensors",
                 s.name_of, 3e-6, 1e-5, s.skip);
  torch::Tensor logits = s.model->forward(batch.input_ids, batch.attention_mask);
  const double after = ref["loss_after_last_step"];
  EXPECT_NEAR(torch::nn::functional::cross_entropy(logits, batch.labels).item<double>(), after,
              1e-5 * after);
}

TEST(ReferenceSteps, LoraGradients) { check_gradients(lora_setup()); }
TEST(ReferenceSteps, FullFineTuningGradients) { check_gradients(full_setup()); }

TEST(ReferenceSteps, LoraThreeStepsEverySetting) {
  for (const char* setting : {"adamw", "loraplus", "loraplus_wd", "trainer_like"})
    check_steps(lora_setup(), setting);
}

TEST(ReferenceSteps, DoraGradients) { check_gradients(dora_setup()); }

TEST(ReferenceSteps, DoraThreeStepsAdamW) { check_steps(dora_setup(), "adamw"); }

// The Trainer's groups as the reference built them (the method's own vectors decay, the head
// biases do not), and prepare_model() for `c` trains what PEFT trains, with PEFT's counts
// (`counts_file`).
void check_groups_and_trainable(Setup s, const TrainConfig& c, const std::string& counts_file,
                                const std::vector<std::int64_t>& prompt_init_ids = {}) {
  const Json file = io::read_json(testing::fixture(counts_file));
  // PEFT's get_nb_trainable_parameters, or the counts the bottleneck fixtures took from adapters.
  const Json& counts = file.contains("get_nb_trainable_parameters") ? file["get_nb_trainable_parameters"] : file["counts"];
  SCOPED_TRACE(s.dir);
  const Json train = io::read_json(testing::fixture(s.dir + "/train.json"));
  const Json& groups = train["settings"]["adamw"]["param_groups"];
  auto ours = groups_for(s, groups, false);
  ASSERT_EQ(ours.size(), groups.size());
  for (std::size_t g = 0; g < ours.size(); ++g) {
    std::vector<std::string> names;
    for (const auto& p : ours[g].params) names.push_back(s.name_of(p.name));
    std::vector<std::string> want = groups[g]["params"];
    std::sort(names.begin(), names.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(names, want) << "group " << g;
    EXPECT_DOUBLE_EQ(ours[g].weight_decay, groups[g]["weight_decay"].get<double>()) << "group " << g;
  }
  auto m = tiny_without_dropout();
  auto prepared = prepare_model(m, c, prompt_init_ids);
  std::vector<std::string> names, want = train["trainable_parameter_names"];
  for (const auto& g : prepared)
    for (const auto& p : g.params) names.push_back(s.name_of(p.name));
  std::sort(names.begin(), names.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(names, want);
  auto n = adapter::peft_parameter_counts(*m, c.modules_to_save());
  EXPECT_EQ(n.trainable, counts["trainable"].get<std::int64_t>());
  EXPECT_EQ(n.all, counts["all"].get<std::int64_t>());
}

TEST(ReferenceSteps, DoraTrainerGroupsAndTrainableParameters) {
  TrainConfig c;
  c.method = Method::dora;
  c.lora.r = 4;
  c.lora.lora_alpha = 16;
  c.lora.lora_dropout = 0;
  check_groups_and_trainable(dora_setup(), c, "methods/dora/dora.json");
}

TEST(ReferenceSteps, Ia3GradientsAndThreeStepsAdamW) {
  check_gradients(ia3_setup());
  check_steps(ia3_setup(), "adamw");
}

TEST(ReferenceSteps, Ia3TrainerGroupsAndTrainableParameters) {
  TrainConfig c;
  c.method = Method::ia3;
  check_groups_and_trainable(ia3_setup(), c, "methods/ia3/ia3.json");
}

TEST(ReferenceSteps, PromptTuningGradientsAndThreeStepsAdamW) {
  for (const char* which : {"prompt_tuning_random", "prompt_tuning_text"}) {
    check_gradients(prompt_setup(which));
    check_steps(prompt_setup(which), "adamw");
  }
}

TEST(ReferenceSteps, PromptTuningTrainerGroupsAndTrainableParameters) {
  TrainConfig c;
  c.method = Method::prompt;
  c.prompt.num_virtual_tokens = 4;
  check_groups_and_trainable(prompt_setup("prompt_tuning_random"), c, "methods/prompt_tuning_random/prompt_tuning_random.json");
  c.prompt.prompt_tuning_init = adapter::PromptInit::text;
  c.prompt.prompt_tuning_init_text = "classify the sentiment";
  c.prompt.tokenizer_name_or_path = "distilbert-tiny";
  // The tiny vocabulary's ids of the init text ([CLS] c ##l ##a ...), from prompt_tuning_text.json.
  const Json text = io::read_json(testing::fixture("methods/prompt_tuning_text/prompt_tuning_text.json"));
  check_groups_and_trainable(prompt_setup("prompt_tuning_text"), c, "methods/prompt_tuning_text/prompt_tuning_text.json",
                             text["text_init_tokenization"]["input_ids"].get<std::vector<std::int64_t>>());
}

TEST(ReferenceSteps, BottleneckGradientsThreeStepsAndTrainerGroups) {
  for (const auto variant : {adapter::BottleneckVariant::houlsby, adapter::BottleneckVariant::pfeiffer}) {
    const std::string which = std::string("bottleneck_") + adapter::to_string(variant);
    check_gradients(bottleneck_setup(which));
    check_steps(bottleneck_setup(which), "adamw");
    TrainConfig c;
    c.method = Method::adapter;
    c.bottleneck.variant = variant;
    check_groups_and_trainable(bottleneck_setup(which), c, "methods/" + which + "/" + which + ".json");
  }
}

TEST(ReferenceSteps, FullFineTuningThreeSteps) {
  for (const char* setting : {"adamw", "trainer_like"}) check_steps(full_setup(), setting);
}

TEST(ReferenceSteps, TrainerDecayListOfDistilBertBase) {
  Json counts = io::read_json(testing::fixture("param_counts.json"));
  model::DistilBertConfig config;
  model::DistilBertForSequenceClassification m(config, 0);
  auto groups = optim::trainer_param_groups(optim::trainable_parameters(*m), 5e-5, 0.01);
  std::vector<std::string> decayed, all;
  for (const auto& p : groups[0].params) decayed.push_back(p.name);
  for (auto& p : m->named_parameters()) all.push_back(p.key());
  EXPECT_EQ(decayed, counts["trainer_decay_parameter_names_full_model"].get<std::vector<std::string>>());
  EXPECT_EQ(all, counts["all_parameter_names_full_model"].get<std::vector<std::string>>());
}

}  // namespace
}  // namespace loraft::train
