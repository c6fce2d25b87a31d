#pragma once
// What the adapter methods' tests share: the tiny fixture model, the method fixtures' batch,
// the closeness rule and PEFT's parameter accounting.
#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "loraft/adapter/lora.h"
#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"

#include "loraft/model/pretrained.h"
#include "support/tensor_support.h"
#include "support/test_support.h"

namespace loraft::adapter::testing_support {

/// distilbert-tiny (tests/fixtures), in eval mode.
inline model::DistilBertForSequenceClassification tiny_model() {
  auto m = model::load_sequence_classification(testing::fixture("distilbert-tiny"));
  m->eval();
  return m;
}

/// distilbert-tiny as the method fixtures' train/ folders loaded it: dropout, attention_dropout
/// and seq_classif_dropout 0, eager attention (the reference ran torch 1.13, where transformers
/// 4.46.3 runs eager), in train mode.
inline model::DistilBertForSequenceClassification tiny_model_without_dropout() {
  model::LoadOptions o;
  o.adjust_config = [](model::DistilBertConfig& c) {
    c.dropout = c.attention_dropout = c.seq_classif_dropout = 0.0;
    c.attn_implementation = "eager";
  };
  auto m = model::load_sequence_classification(testing::fixture("distilbert-tiny"), o);
  m->train();
  return m;
}

/// The 6 rows the method fixtures were computed on (tests/fixtures/README.md, methods/):
/// input_ids, attention_mask, labels.
inline std::map<std::string, torch::Tensor> method_batch() {
  return io::load_safetensors(testing::fixture("lora/train/batch.safetensors"));
}

/// Logits and last hidden state of `m` on method_batch(), without gradients.
inline model::SequenceClassifierOutput method_outputs(model::DistilBertForSequenceClassification& m) {
  auto in = method_batch();
  torch::NoGradGuard no_grad;
  return m->forward_with_states(in.at("input_ids"), in.at("attention_mask"), false);
}

/// `names` sorted, to compare lists PEFT writes in set order.
inline std::vector<std::string> sorted(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  return names;
}

/// max |a - b| <= 1e-5 * max |b|: float32 rounding of a different summation order.
inline void expect_close(const torch::Tensor& got, const torch::Tensor& expected, const std::string& what) {
  testing::expect_close(got, expected, 0, 1e-5, what);
}

/// PEFT's accounting of a prepared model against a method fixture's record (`<method>.json`):
/// get_nb_trainable_parameters, the print_trainable_parameters line, and the trainable
/// parameters by PEFT's names (`peft_name` maps loraft's), with their shapes and sizes.
inline void expect_peft_accounting(torch::nn::Module& m, const std::vector<std::string>& modules_to_save,
                                   const io::Json& record,
                                   const std::function<std::string(const std::string&)>& peft_name) {
  PeftParameterCounts counts = peft_parameter_counts(m, modules_to_save);
  EXPECT_EQ(counts.trainable, record["get_nb_trainable_parameters"]["trainable"].get<std::int64_t>());
  EXPECT_EQ(counts.all, record["get_nb_trainable_parameters"]["all"].get<std::int64_t>());
  EXPECT_EQ(counts.line(), record["print_trainable_parameters"].get<std::string>());
  std::vector<std::string> names, want;
  std::map<std::string, std::vector<std::int64_t>> shapes;
  std::map<std::string, std::int64_t> numels;
  for (auto& p : m.named_parameters())
    if (p.value().requires_grad()) {
      names.push_back(peft_name(p.key()));
      shapes[names.back()] = p.value().sizes().vec();
      numels[names.back()] = p.value().numel();
    }
  for (const auto& p : record["trainable_parameters"]) {
    want.push_back(p["name"]);
    EXPECT_EQ(shapes[p["name"]], p["shape"].get<std::vector<std::int64_t>>()) << p["name"];
    EXPECT_EQ(numels[p["name"]], p["numel"].get<std::int64_t>()) << p["name"];
  }
  EXPECT_EQ(sorted(names), sorted(want));
}

}  // namespace loraft::adapter::testing_support
