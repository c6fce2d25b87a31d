// Whole runs of the Trainer on the tiny fixture model and synthetic rows: records, reuse of a
// finished run, exact resume after an interruption, the stop on non-finite values, gradient
// accumulation as transformers 4.46.3 does it, and bf16 autocast.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <limits>

#include "loraft/io/file.h"
#include "train_support.h"

namespace loraft::train {
namespace {

using io::Json;
using namespace testing_support;

TEST(Trainer, LoraRunWritesItsRecords) {
  testing::ScratchDir dir;
  auto train = synthetic_rows(40, 1), eval = synthetic_rows(20, 2);
  Trainer t(tiny(), train, eval, small_config(Method::lora), Json{{"model", "distilbert-tiny"}},
            options_in(dir));
  RunResult r = t.run();
  EXPECT_FALSE(r.reused);
  EXPECT_EQ(r.summary["steps"], 10);  // 5 batches x 2 epochs
  ASSERT_EQ(r.summary["epochs"].size(), 2u);
  EXPECT_EQ(r.summary["final"]["eval_examples"], 20);
  EXPECT_EQ(r.summary["peft_trainable_parameters"], 2212);  // as lora.json for r=4
  RunDirectory run(dir.path(), t.run_config());
  EXPECT_EQ(run.path(), r.run_dir);
  auto metrics = run.metrics();
  ASSERT_EQ(metrics.size(), 12u);
  EXPECT_EQ(metrics[0]["type"], "step");
  EXPECT_EQ(metrics[5]["type"], "eval");
  EXPECT_EQ(metrics[0]["lr"][0], 1e-3);  // linear decay starts at the peak
  EXPECT_LT(metrics[9]["lr"][0].get<double>(), 1e-3);
  // Each step's time is recorded; the robust training time is steps x their median (10 steps:
  // the mean of the 5th and 6th smallest) and the wall total their sum.
  std::vector<double> times;
  for (const auto& m : metrics)
    if (m["type"] == "step") times.push_back(m.at("step_time_s").get<double>());
  ASSERT_EQ(times.size(), 10u);
  std::sort(times.begin(), times.end());
  const double median = (times[4] + times[5]) / 2;
  EXPECT_DOUBLE_EQ(r.summary["step_time_median_s"].get<double>(), median);
  EXPECT_DOUBLE_EQ(r.summary["train_time_robust_s"].get<double>(), 10 * median);
  EXPECT_NEAR(r.summary["train_time_s"].get<double>(), std::accumulate(times.begin(), times.end(), 0.0), 1e-9);
  EXPECT_TRUE(std::filesystem::exists(r.run_dir / "config.json"));
  EXPECT_TRUE(std::filesystem::exists(r.run_dir / "checkpoints"));
  // Only the LoRA matrices and the head moved.
  auto base = tiny();
  for (auto& p : t.model()->named_parameters()) {
    if (p.value().requires_grad()) continue;
    auto* orig = base->named_parameters().find(p.key());
    ASSERT_NE(orig, nullptr) << p.key();
    EXPECT_TRUE(torch::equal(p.value(), *orig)) << p.key();
  }
}

TEST(Trainer, FinishedRunIsReusedNotRetrained) {
  testing::ScratchDir dir;
  auto train = synthetic_rows(16, 3), eval = synthetic_rows(8, 4);
  TrainConfig c = small_config(Method::full);
  c.epochs = 1;
  RunResult first = Trainer(tiny(), train, eval, c, Json{}, options_in(dir)).run();
  RunResult again = Trainer(tiny(), train, eval, c, Json{}, options_in(dir)).run();
  EXPECT_TRUE(again.reused);
  EXPECT_EQ(again.summary, first.summary);
  c.seed = 12;  // another configuration: another folder
  EXPECT_NE(Trainer(tiny(), train, eval, c, Json{}, options_in(dir)).run().run_dir, first.run_dir);
}

TEST(Trainer, ResumeAfterInterruptionEqualsUninterrupted) {
  check_resume(Method::lora, 3);      // mid-epoch
  check_resume(Method::loraplus, 5);  // at the end of epoch 1
  check_resume(Method::full, 7);
  // 5 batches an epoch in groups of 2: steps end at batches 2, 4, 5; the schedule has
  // 2 x (5 / 2) = 4 steps, so epoch 2 stops after one: 4 steps + 2 evals.
  check_resume(Method::lora, 2, 2, 6);
}

// A checkpoint whose bytes changed after it was written is skipped for the previous one
// (checksums.json); the resumed run still ends where the uninterrupted one does.
TEST(Trainer, DamagedNewestCheckpointIsSkippedForThePreviousOne) {
  auto train = synthetic_rows(40, 5), eval = synthetic_rows(10, 6);
  const TrainConfig c = small_config(Method::lora);
  loraft::testing::ScratchDir a, b;
  Trainer straight(tiny(), train, eval, c, Json{}, options_in(a));
  straight.run();
  RunOptions o = options_in(b);
  o.checkpoint_every = 1;
  o.keep_checkpoints = 100;
  o.interrupt_after_steps = 3;
  EXPECT_THROW(Trainer(tiny(), train, eval, c, Json{}, o).run(), TrainingInterrupted);
  const RunDirectory run(b.path(), straight.run_config());
  const auto newest = run.checkpoint_dir() / "step-00000003" / "weights.safetensors";
  ASSERT_TRUE(std::filesystem::exists(newest));
  std::string bytes = io::read_file(newest);
  bytes[bytes.size() - 3] ^= 0x40;  // inside the tensor data: the file still parses
  io::write_file_atomic(newest, bytes);
  o.interrupt_after_steps = 0;
  Trainer resumed(tiny(), train, eval, c, Json{}, o);
  resumed.run();
  auto pa = straight.model()->named_parameters(), pb = resumed.model()->named_parameters();
  for (auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
}

// A finished run whose outputs were damaged is not reused: it runs again and writes them anew.
TEST(Trainer, DamagedFinishedRunRunsAgain) {
  auto train = synthetic_rows(40, 5), eval = synthetic_rows(10, 6);
  loraft::testing::ScratchDir dir;
  const TrainConfig c = small_config(Method::lora);
  RunResult first = Trainer(tiny(), train, eval, c, Json{}, options_in(dir)).run();
  const auto adapter = first.run_dir / "final" / "adapter_model.safetensors";
  const std::string good = io::read_file(adapter);
  io::write_file_atomic(adapter, good.substr(0, good.size() / 2));
  RunResult again = Trainer(tiny(), train, eval, c, Json{}, options_in(dir)).run();
  EXPECT_FALSE(again.reused);
  EXPECT_EQ(io::read_file(adapter), good);
  EXPECT_TRUE(Trainer(tiny(), train, eval, c, Json{}, options_in(dir)).run().reused);
}

StepResult one_step(const std::vector<data::Batch>& micro_batches, std::int64_t accumulation) {
  auto m = tiny();
  m->eval();  // no dropout: both sides see the same function
  TrainConfig c = small_config(Method::full);
  optim::AdamW optimizer(prepare_model(m, c));
  StepOptions o;
  o.max_grad_norm = 0;
  o.accumulation_steps = accumulation;
  return train_step(m, optimizer, micro_batches, o);
}

TEST(TrainStep, TwoAccumulatedHalvesEqualTheWholeBatch) {
  auto rows = synthetic_rows(8, 21);
  StepResult whole = one_step(batches_of(rows, 8), 1);
  StepResult halves = one_step(batches_of(rows, 4), 2);
  EXPECT_NEAR(halves.loss, whole.loss, 1e-6 * whole.loss);
  EXPECT_NEAR(halves.grad_norm, whole.grad_norm, 1e-5 * whole.grad_norm);
}

TEST(TrainStep, AShortLastGroupIsStillDividedByTheAccumulationSteps) {
  auto rows = synthetic_rows(4, 22);
  StepResult alone = one_step(batches_of(rows, 4), 1);
  StepResult in_group_of_3 = one_step(batches_of(rows, 4), 3);  // the epoch's remainder
  EXPECT_NEAR(in_group_of_3.loss, alone.loss, 1e-7 * alone.loss);
  EXPECT_NEAR(in_group_of_3.grad_norm, alone.grad_norm / 3, 1e-6 * alone.grad_norm);
}

// 10 batches of 1 row, accumulation 4, 3 epochs: the Trainer schedules 3 x (10 / 4) = 6 steps,
// takes 3 an epoch (after batches 4, 8, 10) and stops in epoch 2, which it evaluates.
TEST(Trainer, AccumulationEndsEpochsAndStopsAsTheTrainerDoes) {
  testing::ScratchDir dir;
  auto train = synthetic_rows(10, 23), eval = synthetic_rows(6, 24);
  TrainConfig c = small_config(Method::lora);
  c.batch_size = 1;
  c.gradient_accumulation_steps = 4;
  c.epochs = 3;
  Trainer t(tiny(), train, eval, c, Json{}, options_in(dir));
  RunResult r = t.run();
  EXPECT_EQ(r.summary["steps"], 6);
  EXPECT_EQ(r.summary["train_examples"], 20);
  ASSERT_EQ(r.summary["epochs"].size(), 2u);
  auto metrics = RunDirectory(dir.path(), t.run_config()).metrics();
  const std::vector<double> epochs{0.4, 0.8, 1.0, 1.4, 1.8, 2.0};
  std::size_t k = 0;
  for (const auto& m : metrics) {
    if (m["type"] != "step") continue;
    ASSERT_LT(k, epochs.size());
    EXPECT_NEAR(m["epoch"].get<double>(), epochs[k], 1e-12) << "step " << k + 1;
    EXPECT_NEAR(m["lr"][0].get<double>(), 1e-3 * double(6 - k) / 6.0, 1e-15) << "step " << k + 1;
    ++k;
  }
  EXPECT_EQ(k, 6u);
}

TEST(Autocast, Bf16RunsTheForwardInBfloat16AndTrainsFloat32Weights) {
  auto m = tiny();
  m->eval();
  auto batch = batches_of(synthetic_rows(8, 25), 8);
  torch::NoGradGuard no_grad;
  torch::Tensor reference = m->forward(batch[0].input_ids, batch[0].attention_mask);
  torch::Tensor mixed;
  {
    AutocastGuard guard(Autocast::bf16, torch::kCPU);
    mixed = m->forward(batch[0].input_ids, batch[0].attention_mask);
  }
  EXPECT_EQ(mixed.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(reference.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(mixed.to(torch::kFloat32), reference, 0.05, 0.05));
  // The guard is gone: float32 again, bit for bit.
  EXPECT_TRUE(torch::equal(m->forward(batch[0].input_ids, batch[0].attention_mask), reference));
}

TEST(Autocast, Bf16RunTrainsAndFp16WithoutCudaIsRefused) {
  testing::ScratchDir dir;
  auto train = synthetic_rows(16, 26), eval = synthetic_rows(8, 27);
  TrainConfig c = small_config(Method::lora);
  c.epochs = 1;
  RunResult fp32 = Trainer(tiny(), train, eval, c, Json{}, options_in(dir)).run();
  c.autocast = Autocast::bf16;
  Trainer t(tiny(), train, eval, c, Json{}, options_in(dir));
  RunResult bf16 = t.run();
  EXPECT_NE(bf16.run_dir, fp32.run_dir);
  EXPECT_EQ(t.run_config()["train"]["autocast"], "bf16");
  for (auto& p : t.model()->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
  const double a = fp32.summary["final"]["eval_loss"], b = bf16.summary["final"]["eval_loss"];
  EXPECT_NEAR(b, a, 0.02 * a);
  c.autocast = Autocast::fp16;
  EXPECT_THROW(c.validate(), ConfigError);
}

TEST(Trainer, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  testing::ScratchDir dir;
  auto train = synthetic_rows(40, 7), eval = synthetic_rows(8, 8);
  TrainConfig c = small_config(Method::full);
  c.learning_rate = 1e30;
  c.max_grad_norm = 0;
  RunOptions o = options_in(dir);
  o.checkpoint_every = 1;
  o.keep_checkpoints = 100;
  Trainer t(tiny(), train, eval, c, Json{}, o);
  try {
    t.run();
    FAIL() << "expected a NonFiniteError";
  } catch (const NonFiniteError& e) {
    EXPECT_NE(std::string(e.what()).find("step"), std::string::npos) << e.what();
  }
  RunDirectory run(dir.path(), t.run_config());
  EXPECT_FALSE(run.summary().has_value());
  for (auto& ckpt : std::filesystem::directory_iterator(run.checkpoint_dir())) {
    auto weights = io::load_safetensors(ckpt.path() / "weights.safetensors");
    for (auto& [name, w] : weights)
      EXPECT_TRUE(torch::isfinite(w).all().item<bool>()) << ckpt.path() << " " << name;
  }
}

// A diverged model can train on finite losses and still evaluate to inf: the loop fails the
// run there, naming the metric, before the eval record or a checkpoint of that epoch exists.
TEST(Loop, NonFiniteEvaluationFailsTheRunBeforeItsRecords) {
  struct Diverged : TrainingTask {
    std::int64_t batches_per_epoch() const override { return 2; }
    StepOutcome step(std::int64_t, std::int64_t, std::int64_t count) override {
      StepOutcome o;
      o.examples = count;
      o.loss = 0.5;
      return o;
    }
    Json evaluate(std::int64_t) override {
      return Json{{"eval_loss", std::numeric_limits<double>::infinity()}, {"eval_accuracy", 0.5}};
    }
  } task;
  testing::ScratchDir dir;
  RunDirectory run(dir.path(), Json{{"loop", "diverged"}});
  torch::nn::Linear model(2, 2);
  optim::AdamW optimizer({optim::ParamGroup{"all", {{"weight", model->weight}}, 1e-3, 1e-3, 0.0}});
  optim::LinearSchedule schedule(2);
  LoopPlan plan;
  plan.max_steps = 2;
  try {
    run_loop(task, run, *model, optimizer, schedule, plan, options_in(dir));
    FAIL() << "expected a NonFiniteError";
  } catch (const NonFiniteError& e) {
    EXPECT_NE(std::string(e.what()).find("the evaluation's eval_loss is inf"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("epoch 1, step 2"), std::string::npos) << e.what();
  }
  for (const auto& m : run.metrics()) EXPECT_NE(m.value("type", ""), "eval") << m.dump();
  EXPECT_FALSE(std::filesystem::exists(run.checkpoint_dir()) &&
               !std::filesystem::is_empty(run.checkpoint_dir()))
      << "no checkpoint of the failed epoch";
}

TEST(Evaluate, AccuracyAndMacroF1ByHand) {
  auto m = tiny();
  m->eval();
  auto rows = synthetic_rows(30, 9);
  EvalResult r = evaluate(m, rows, 7, data::Padding::longest, 128);
  // The same numbers from the logits of each row alone.
  std::int64_t correct = 0;
  std::vector<std::int64_t> tp(4), fp(4), fn(4);
  std::vector<bool> seen(4);
  double loss = 0;
  for (std::int64_t i = 0; i < rows.size(); ++i) {
    data::Batch b = data::make_batch(rows, {i}, data::Padding::longest, 128, 0);
    torch::NoGradGuard ng;
    torch::Tensor logits = m->forward(b.input_ids, b.attention_mask);
    loss += torch::nn::functional::cross_entropy(logits, b.labels).item<double>();
    std::int64_t p = logits.argmax(1).item<std::int64_t>(), y = rows.labels[i];
    seen[p] = seen[y] = true;
    if (p == y) ++correct, ++tp[y]; else ++fp[p], ++fn[y];
  }
  double f1 = 0;
  int present = 0;
  for (int c = 0; c < 4; ++c)
    if (seen[c]) ++present, f1 += 2.0 * tp[c] / std::max(1.0, 2.0 * tp[c] + fp[c] + fn[c]);
  EXPECT_EQ(r.examples, 30);
  EXPECT_DOUBLE_EQ(r.accuracy, correct / 30.0);
  EXPECT_NEAR(r.macro_f1, f1 / present, 1e-12);
  EXPECT_NEAR(r.loss, loss / 30, 1e-5);
}

TEST(Trainer, RejectsRowsLongerThanTheModelTakes) {
  auto rows = synthetic_rows(8, 10);
  TrainConfig c = small_config(Method::lora);
  c.max_length = 128;  // more positions than the tiny model has
  testing::ScratchDir dir;
  EXPECT_THROW(Trainer(tiny(), rows, rows, c, Json{}, options_in(dir)), ConfigError);
  c.max_length = 8;  // shorter than some rows
  EXPECT_THROW(Trainer(tiny(), rows, rows, c, Json{}, options_in(dir)), ConfigError);
  c.max_length = 64;
  auto outside = rows;
  outside.ids[3] = 333;  // the tiny vocabulary has 333 ids: checked once here, not in every forward
  EXPECT_THROW(Trainer(tiny(), outside, rows, c, Json{}, options_in(dir)), ConfigError);
  EXPECT_THROW(Trainer(tiny(), rows, outside, c, Json{}, options_in(dir)), ConfigError);
}

TEST(TrainConfig, JsonRoundTripAndErrors) {
  TrainConfig c = small_config(Method::loraplus);
  c.loraplus_decay = optim::LoraPlusDecay::corrected;
  TrainConfig back = TrainConfig::from_json(c.to_json(), "test");
  EXPECT_EQ(back.to_json(), c.to_json());
  Json bad = c.to_json();
  bad["learning_rat"] = 1;
  EXPECT_THROW(TrainConfig::from_json(bad, "test"), ConfigError);
  bad = c.to_json();
  bad["batch_size"] = 0;
  EXPECT_THROW(TrainConfig::from_json(bad, "test"), ConfigError);
  bad = c.to_json();
  bad["autocast"] = "fp8";
  EXPECT_THROW(TrainConfig::from_json(bad, "test"), ConfigError);
  bad["autocast"] = 16;
  EXPECT_THROW(TrainConfig::from_json(bad, "test"), ConfigError);
  bad["autocast"] = "fp16";  // needs CUDA; the device is the CPU
  EXPECT_THROW(TrainConfig::from_json(bad, "test"), ConfigError);
  bad = c.to_json();
  bad["gradient_accumulation_steps"] = 0;
  EXPECT_THROW(TrainConfig::from_json(bad, "test"), ConfigError);
  bad = c.to_json();
  bad["method"] = "adapters";
  EXPECT_THROW(TrainConfig::from_json(bad, "test"), ConfigError);
  // Mistyped values are ConfigErrors naming the key (settings declared once, io/settings.h).
  bad = c.to_json();
  bad["lora"]["r"] = "8";
  try {
    TrainConfig::from_json(bad, "test");
    FAIL() << "a string rank was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("lora: r"), std::string::npos) << e.what();
  }
  bad = c.to_json();
  bad["lora"]["rank"] = 8;  // unknown inside the nested object too
  EXPECT_THROW(TrainConfig::from_json(bad, "test"), ConfigError);
  bad = c.to_json();
  bad["seed"] = -1;
  EXPECT_THROW(TrainConfig::from_json(bad, "test"), ConfigError);
  bad = c.to_json();
  bad["epochs"] = 1.5;
  EXPECT_THROW(TrainConfig::from_json(bad, "test"), ConfigError);
  // Non-finite settings never reach a run (JSON cannot hold them; flags and code can).
  TrainConfig inf = c;
  inf.learning_rate = std::numeric_limits<double>::infinity();
  EXPECT_THROW(inf.validate(), ConfigError);
  inf = c;
  inf.loraplus_ratio = std::nan("");
  EXPECT_THROW(inf.validate(), ConfigError);
}

}  // namespace
}  // namespace loraft::train
