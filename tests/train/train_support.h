#pragma once
// What the Trainer tests share (CPU and CUDA): synthetic rows over the tiny vocabulary, the
// tiny fixture model, a small configuration, and the resume check.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "loraft/model/pretrained.h"
#include "loraft/train/run_directory.h"
#include "loraft/train/trainer.h"
#include "support/test_support.h"

namespace loraft::train::testing_support {

// Rows [CLS] w... [SEP] over the tiny vocab (333 ids; 0-4 are special). The label is the
// parity of how many ids fall in the upper half: learnable, not trivial.
inline data::TokenRows synthetic_rows(std::int64_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  data::TokenRows rows;
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<std::int32_t> ids{2};
    const int len = 3 + static_cast<int>(rng() % 10);
    int upper = 0;
    for (int t = 0; t < len; ++t) {
      const std::int32_t id = 5 + static_cast<std::int32_t>(rng() % 328);
      upper += id >= 169;
      ids.push_back(id);
    }
    ids.push_back(3);
    rows.push_back(ids, upper % 4);
  }
  return rows;
}

// The tiny fixture classifier; `no_dropout` sets every dropout of its config to 0.
inline model::DistilBertForSequenceClassification tiny(bool no_dropout = false) {
  model::LoadOptions options;
  if (no_dropout)
    options.adjust_config = [](model::DistilBertConfig& c) {
      c.dropout = c.attention_dropout = c.seq_classif_dropout = 0;
    };
  return model::load_sequence_classification(loraft::testing::fixture("distilbert-tiny"), options);
}

inline TrainConfig small_config(Method method) {
  TrainConfig c;
  c.method = method;
  c.epochs = 2;
  c.batch_size = 8;
  c.eval_batch_size = 16;
  c.learning_rate = 1e-3;
  c.lora.r = 4;
  c.lora.lora_alpha = 16;
  c.seed = 11;
  c.max_length = 64;  // the tiny model's max_position_embeddings
  if (method == Method::prompt) {  // the virtual tokens take positions too
    c.prompt.num_virtual_tokens = 4;
    c.max_length = 60;
  }
  return c;
}

inline RunOptions options_in(const loraft::testing::ScratchDir& dir) {
  RunOptions o;
  o.runs_dir = dir.path();
  o.progress = false;
  return o;
}

// Rows 0..n-1 in order, as micro-batches of `size`.
inline std::vector<data::Batch> batches_of(const data::TokenRows& rows, std::int64_t size) {
  data::BatchOptions o;
  o.batch_size = size;
  o.max_length = 64;
  data::Batcher batcher(rows, o);
  std::vector<data::Batch> out;
  for (std::int64_t b = 0; b < batcher.num_batches(); ++b) out.push_back(batcher.batch(0, b));
  return out;
}

// Interrupt at `stop` (mid-epoch or at an epoch end), resume in a new Trainer with a fresh
// model, and compare with a run that never stopped: every parameter bit for bit (dropout is on,
// so the generator state must be restored too).
inline void check_resume(Method method, std::int64_t stop, std::int64_t accumulation = 1,
                         std::size_t records = 12, const std::string& device = "cpu") {
  SCOPED_TRACE(std::string(to_string(method)) + " on " + device + ", stop after " + std::to_string(stop) +
               ", accumulation " + std::to_string(accumulation));
  auto train = synthetic_rows(40, 5), eval = synthetic_rows(10, 6);
  TrainConfig c = small_config(method);
  c.gradient_accumulation_steps = accumulation;
  c.device = device;
  loraft::testing::ScratchDir a, b;
  Trainer straight(tiny(), train, eval, c, io::Json{}, options_in(a));
  RunResult ra = straight.run();

  RunOptions o = options_in(b);
  o.interrupt_after_steps = stop;
  EXPECT_THROW(Trainer(tiny(), train, eval, c, io::Json{}, o).run(), TrainingInterrupted);
  o.interrupt_after_steps = 0;
  Trainer resumed(tiny(), train, eval, c, io::Json{}, o);
  RunResult rb = resumed.run();
  EXPECT_FALSE(rb.reused);
  auto pa = straight.model()->named_parameters(), pb = resumed.model()->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  EXPECT_EQ(ra.summary["final"], rb.summary["final"]);
  // The resumed record holds each step once.
  auto mb = RunDirectory(b.path(), resumed.run_config()).metrics();
  EXPECT_EQ(mb.size(), records);
}

}  // namespace loraft::train::testing_support
