// Whole IA3, prompt-tuning and bottleneck-adapter runs on the tiny fixture model: the record names the method and
// its settings, the final folder is the method's PEFT adapter and reproduces the trained model
// through load_any_adapter(), and a resumed run equals an uninterrupted one bit for bit (the
// method's vectors and their AdamW state go through the checkpoints).
#include <gtest/gtest.h>

#include "loraft/adapter/adapters.h"
#include "loraft/adapter/peft_io.h"
#include "loraft/io/file.h"
#include "train_support.h"

namespace loraft::train {
namespace {

using io::Json;
using namespace testing_support;

void check_final_folder(Method method, const std::string& peft_type, std::int64_t trainable, std::int64_t all) {
  SCOPED_TRACE(to_string(method));
  testing::ScratchDir dir;
  auto train = synthetic_rows(24, 31), eval = synthetic_rows(8, 32);
  TrainConfig c = small_config(method);
  c.epochs = 1;
  Trainer t(tiny(), train, eval, c, Json{{"model", "distilbert-tiny"}}, options_in(dir));
  RunResult r = t.run();
  EXPECT_EQ(r.summary["method"], to_string(method));
  // PEFT's counts for the tiny model (methods/ia3/ia3.json; methods/prompt_tuning_*/ for 4 tokens).
  EXPECT_EQ(r.summary["peft_trainable_parameters"], trainable);
  EXPECT_EQ(r.summary["peft_all_parameters"], all);
  const Json recorded = io::read_json(r.run_dir / "config.json");
  EXPECT_EQ(TrainConfig::from_json(recorded.at("train"), "config.json").to_json(), c.to_json());
  EXPECT_TRUE(recorded.at("train").at("lora").is_null());

  const auto final_dir = r.run_dir / "final";
  EXPECT_EQ(adapter::read_peft_type(final_dir), peft_type);
  auto fresh = tiny();
  const auto loaded = adapter::load_any_adapter(final_dir, *fresh);
  EXPECT_EQ(loaded.peft_type, peft_type);
  auto batch = batches_of(eval, 8).front();
  t.model()->eval();
  fresh->eval();
  torch::NoGradGuard no_grad;
  const auto trained = t.model()->forward(batch.input_ids, batch.attention_mask);
  EXPECT_TRUE(torch::equal(fresh->forward(batch.input_ids, batch.attention_mask), trained));
  // The base model alone gives other logits: the adapter trained.
  auto base = tiny();
  base->eval();
  EXPECT_GT((base->forward(batch.input_ids, batch.attention_mask) - trained).abs().max().item<double>(), 1e-4);
}

TEST(MethodsRun, Ia3WritesAPeftIa3AdapterThatReproducesTheModel) {
  check_final_folder(Method::ia3, "IA3", 1444, 32488);
}

TEST(MethodsRun, PromptTuningWritesAPeftPromptAdapterThatReproducesTheModel) {
  check_final_folder(Method::prompt, "PROMPT_TUNING", 1316, 32360);
}

// adapters' own counts for the tiny model (methods/bottleneck_pfeiffer/bottleneck_pfeiffer.json).
TEST(MethodsRun, BottleneckWritesAnAdaptersFolderThatReproducesTheModel) {
  check_final_folder(Method::adapter, "BOTTLENECK", 1512, 31368);
}

TEST(MethodsRun, ResumeAfterInterruptionEqualsUninterrupted) {
  check_resume(Method::ia3, 3);
  check_resume(Method::prompt, 3);
  check_resume(Method::adapter, 3);
}

// Text initialisation needs the tokenizer's ids of the text, which run_experiment() supplies;
// a Trainer without them refuses to start rather than train a prompt it cannot initialise.
TEST(MethodsRun, PromptTextInitWithoutTokenIdsIsRefused) {
  testing::ScratchDir dir;
  auto train = synthetic_rows(8, 1), eval = synthetic_rows(4, 2);
  TrainConfig c = small_config(Method::prompt);
  c.prompt.prompt_tuning_init = adapter::PromptInit::text;
  c.prompt.prompt_tuning_init_text = "classify the sentiment";
  Trainer t(tiny(), train, eval, c, Json{}, options_in(dir));
  EXPECT_THROW(t.run(), ConfigError);
  // Too long for the model with its virtual tokens: refused when the Trainer is made.
  c.max_length = 64;
  EXPECT_THROW(Trainer(tiny(), train, eval, c, Json{}, options_in(dir)), ConfigError);
}

}  // namespace
}  // namespace loraft::train
