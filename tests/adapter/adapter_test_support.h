#pragma once
// What the LoRA and DoRA tests share: the tiny fixture model and the closeness rule.
#include <string>

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

/// max |a - b| <= 1e-5 * max |b|: float32 rounding of a different summation order.
inline void expect_close(const torch::Tensor& got, const torch::Tensor& expected, const std::string& what) {
  testing::expect_close(got, expected, 0, 1e-5, what);
}

}  // namespace loraft::adapter::testing_support
