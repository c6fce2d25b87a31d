// Whole DoRA runs (Method::dora, PEFT's LoraConfig(use_dora=True)) on the tiny fixture model:
// the record names the method and reads back, the final folder is a PEFT DoRA adapter that
// reproduces the trained model, and a resumed run equals an uninterrupted one bit for bit
// (the magnitude vectors and their AdamW state go through the checkpoints).
#include <gtest/gtest.h>

#include "loraft/adapter/lora.h"
#include "loraft/adapter/peft_io.h"
#include "loraft/io/file.h"
#include "loraft/io/safetensors.h"
#include "train_support.h"

namespace loraft::train {
namespace {

using io::Json;
using namespace testing_support;

TEST(DoraRun, WritesAPeftDoraAdapterAndItsConfigReadsBack) {
  testing::ScratchDir dir;
  auto train = synthetic_rows(24, 31), eval = synthetic_rows(8, 32);
  TrainConfig c = small_config(Method::dora);
  c.epochs = 1;
  Trainer t(tiny(), train, eval, c, Json{{"model", "distilbert-tiny"}}, options_in(dir));
  RunResult r = t.run();
  EXPECT_EQ(r.summary["method"], "dora");
  EXPECT_EQ(r.summary["peft_trainable_parameters"], 2340);  // methods/dora/dora.json for r=4
  EXPECT_EQ(r.summary["peft_all_parameters"], 33384);

  // The recorded configuration: method dora, and it reads back to the same JSON (the run's hash).
  const Json recorded = io::read_json(r.run_dir / "config.json");
  EXPECT_EQ(recorded.at("train").at("method"), "dora");
  const TrainConfig back = TrainConfig::from_json(recorded.at("train"), "config.json");
  EXPECT_EQ(back.method, Method::dora);
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(recorded, t.run_config());

  // The final folder: PEFT's DoRA adapter (use_dora true, magnitudes saved without .weight).
  const auto final_dir = r.run_dir / "final";
  EXPECT_EQ(io::read_json(final_dir / "adapter_config.json").at("use_dora"), true);
  io::SafetensorsFile saved(final_dir / "adapter_model.safetensors");
  std::size_t magnitudes = 0;
  for (const auto& name : saved.names()) magnitudes += name.find(".lora_magnitude_vector") != std::string::npos;
  EXPECT_EQ(magnitudes, 4u);
  EXPECT_TRUE(saved.contains("base_model.model.distilbert.transformer.layer.1.attention.v_lin.lora_magnitude_vector"));

  // The magnitudes trained (they start at the row norms of W), and the adapter reproduces the model.
  for (auto& [name, layer] : adapter::lora_layers(*t.model())) {
    EXPECT_TRUE(layer->use_dora) << name;
    EXPECT_GT((layer->lora_magnitude_vector - layer->base->weight.norm(2, {1})).abs().max().item<double>(), 0.0)
        << name;
  }
  auto fresh = tiny();
  adapter::load_adapter(final_dir, *fresh);
  auto batch = batches_of(eval, 8).front();
  t.model()->eval();
  fresh->eval();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(fresh->forward(batch.input_ids, batch.attention_mask),
                           t.model()->forward(batch.input_ids, batch.attention_mask)));
}

TEST(DoraRun, ResumeAfterInterruptionEqualsUninterrupted) { check_resume(Method::dora, 3); }

}  // namespace
}  // namespace loraft::train
