// Whole pretraining runs on a fresh model of the tiny fixture's shape over a synthetic
// corpus: the held-out loss falls, a resumed run equals an uninterrupted one bit for bit,
// a saved folder reloads to the loss the run reported, and the optional [CLS] term trains.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "loraft/core/error.h"
#include "loraft/core/threads.h"
#include "loraft/model/pretrained.h"
#include "loraft/train/pretrainer.h"
#include "loraft/train/run_directory.h"
#include "support/test_support.h"

namespace loraft::train {
namespace {

// Texts over the tiny vocabulary with what a small model learns in a few dozen steps: a
// skewed unigram distribution (ids 5..44, id 5 + k with weight 1 / (k + 1)), far from the
// uniform guess of a fresh model, and a local rule (after an even id comes its successor).
data::TokenRows corpus(std::int64_t texts, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<double> weights;
  for (int k = 0; k < 40; ++k) weights.push_back(1.0 / (k + 1));
  std::discrete_distribution<int> zipf(weights.begin(), weights.end());
  data::TokenRows rows;
  for (std::int64_t i = 0; i < texts; ++i) {
    std::vector<std::int32_t> t{2};
    const int len = 10 + static_cast<int>(rng() % 40);
    for (int k = 0; k < len; ++k) {
      const std::int32_t id = t.back() % 2 == 0 && t.back() >= 5 ? t.back() + 1 : 5 + zipf(rng);
      t.push_back(id);
    }
    t.push_back(3);
    rows.push_back(t, 0);
  }
  return rows;
}

struct Data {
  MlmBlocks train, heldout;
};

Data data_set(std::int64_t texts = 240) {
  auto split = split_validation(corpus(texts, 3), 10.0);
  return {group_texts(split.train, 32), group_texts(split.heldout, 32)};
}

model::DistilBertForMaskedLM fresh(std::uint64_t seed) {
  auto config = model::DistilBertConfig::from_file(testing::fixture("distilbert-tiny-mlm/config.json"));
  return model::DistilBertForMaskedLM(config, seed);
}

PretrainConfig small_config() {
  PretrainConfig c;
  c.epochs = 3;
  c.batch_size = 16;
  c.eval_batch_size = 32;
  c.learning_rate = 1e-2;
  c.warmup_steps = 5;
  c.seed = 17;
  c.masking.mask_token_id = 4;
  c.masking.vocab_size = 333;
  return c;
}

// Models this small run several times faster on one thread, and far faster than two threads
// on a machine busy with other work (OpenMP workers wait on each other); restored after.
class OneThread {
 public:
  OneThread() : before_(num_threads()) { configure_threads(1); }
  ~OneThread() { configure_threads(before_); }

 private:
  int before_;
};

RunOptions options_in(const std::filesystem::path& dir) {
  RunOptions o;
  o.runs_dir = dir;
  o.progress = false;
  return o;
}

TEST(Pretrainer, LowersHeldOutLossAndRecordsTheRun) {
  OneThread one_thread;
  testing::ScratchDir dir;
  Data d = data_set();
  ASSERT_GT(d.train.size(), 150);
  ASSERT_GT(d.heldout.size(), 10);
  const PretrainConfig c = small_config();
  Pretrainer p(fresh(c.seed), d.train, d.heldout, c, io::Json{{"corpus", "synthetic"}}, options_in(dir.path()));
  const MlmEvalResult before = evaluate_mlm(p.model(), d.heldout, 32, c.masking, c.seed ^ 0x5eed0e7a1ULL);
  RunResult r = p.run();
  ASSERT_FALSE(r.reused);
  const auto& epochs = r.summary["epochs"];
  ASSERT_EQ(epochs.size(), 3u);
  const double last = epochs.back()["eval_loss"].get<double>();
  EXPECT_LT(last, before.loss - 1.0) << "before " << before.loss;
  // (Beating the unigram baseline takes more than this budget; the real recipe reports both.)
  const double unigram = r.summary["unigram_baseline"]["perplexity"];
  EXPECT_TRUE(std::isfinite(unigram) && unigram > 1.0 && unigram < 333.0);
  EXPECT_LE(last, epochs.front()["eval_loss"].get<double>());
  const std::int64_t steps = r.summary["steps"];
  EXPECT_EQ(steps, 3 * ((d.train.size() + 15) / 16));
  RunDirectory rd(dir.path(), p.run_config());
  std::int64_t step_records = 0;
  for (const auto& m : rd.metrics()) step_records += m["type"] == "step";
  EXPECT_EQ(step_records, steps);
  EXPECT_TRUE(std::filesystem::exists(r.run_dir / "final" / "model.safetensors"));
  // A finished run is reused.
  Pretrainer again(fresh(c.seed), d.train, d.heldout, c, io::Json{{"corpus", "synthetic"}}, options_in(dir.path()));
  EXPECT_TRUE(again.run().reused);
}

TEST(Pretrainer, ClsBagOfWordsTermIsTrainedAndRecorded) {
  OneThread one_thread;
  testing::ScratchDir dir;
  Data d = data_set(120);
  PretrainConfig c = small_config();
  // Weight 0 is run_mlm's objective, and such runs keep the names they had before the term.
  EXPECT_FALSE(c.to_json().contains("cls_bow_weight"));
  c.cls_bow_weight = 0.5;
  EXPECT_EQ(c.to_json().at("cls_bow_weight"), 0.5);
  Pretrainer p(fresh(c.seed), d.train, d.heldout, c, io::Json::object(), options_in(dir.path()));
  RunResult r = p.run();
  RunDirectory rd(dir.path(), p.run_config());
  std::vector<double> bow;
  for (const auto& m : rd.metrics()) {
    if (m["type"] != "step") continue;
    const double mlm = m.at("mlm_loss"), cls = m.at("cls_bow_loss"), loss = m.at("loss");
    EXPECT_NEAR(loss, mlm + 0.5 * cls, 1e-5 * loss) << "step " << m["step"];
    bow.push_back(cls);
  }
  ASSERT_GE(bow.size(), 10u);
  // Position 0 learns to predict the block's words: the first steps' mean loss falls.
  const auto mean = [](auto first, auto last) { return std::accumulate(first, last, 0.0) / double(last - first); };
  EXPECT_LT(mean(bow.end() - 5, bow.end()), mean(bow.begin(), bow.begin() + 5) - 0.5);
  c.cls_bow_weight = -1;
  EXPECT_THROW(c.validate(), ConfigError);
}

TEST(Pretrainer, ResumeEqualsUninterruptedBitwise) {
  OneThread one_thread;
  testing::ScratchDir a;
  Data d = data_set(120);
  PretrainConfig c = small_config();
  c.epochs = 2;
  Pretrainer whole(fresh(c.seed), d.train, d.heldout, c, io::Json::object(), options_in(a.path()));
  RunResult ra = whole.run();
  const std::int64_t per_epoch = (d.train.size() + 15) / 16;
  for (std::int64_t stop : {per_epoch / 2, per_epoch}) {  // mid-epoch and at an epoch end
    testing::ScratchDir dir;
    RunOptions o = options_in(dir.path());
    o.interrupt_after_steps = stop;
    Pretrainer first(fresh(c.seed), d.train, d.heldout, c, io::Json::object(), o);
    EXPECT_THROW(first.run(), TrainingInterrupted);
    torch::manual_seed(999);  // a resumed process starts from other generator states
    Pretrainer resumed(fresh(c.seed), d.train, d.heldout, c, io::Json::object(), options_in(dir.path()));
    RunResult rb = resumed.run();
    EXPECT_EQ(rb.summary["final"]["eval_loss"], ra.summary["final"]["eval_loss"]) << "stop " << stop;
    auto pa = whole.model()->named_parameters();
    auto pb = resumed.model()->named_parameters();
    for (const auto& item : pa) EXPECT_TRUE(item.value().equal(pb[item.key()])) << item.key() << " stop " << stop;
  }
}

TEST(Pretrainer, SavedFolderGivesTheReportedLoss) {
  OneThread one_thread;
  testing::ScratchDir dir;
  Data d = data_set();
  PretrainConfig c = small_config();
  c.max_steps = 5;  // part of one epoch, evaluated where it stops
  Pretrainer p(fresh(c.seed), d.train, d.heldout, c, io::Json::object(), options_in(dir.path()));
  RunResult r = p.run();
  EXPECT_EQ(r.summary["steps"], 5);
  ASSERT_EQ(r.summary["epochs"].size(), 1u);
  const double reported = r.summary["final"]["eval_loss"];
  const std::uint64_t eval_seed = r.summary["eval_seed"];
  for (auto dtype : {torch::kFloat32, torch::kFloat16}) {
    const auto folder = dir.path() / (dtype == torch::kFloat32 ? "f32" : "f16");
    save_masked_lm(folder, p.model(), dtype);
    auto loaded = model::load_masked_lm(folder);
    const MlmEvalResult ev = evaluate_mlm(loaded, d.heldout, 7, c.masking, eval_seed);
    if (dtype == torch::kFloat32)
      EXPECT_NEAR(ev.loss, reported, 1e-6 * reported);
    else
      EXPECT_NEAR(ev.loss, reported, 1e-2 * reported);
  }
  // The run's own final/ folder too.
  auto final_model = model::load_masked_lm(r.run_dir / "final");
  EXPECT_NEAR(evaluate_mlm(final_model, d.heldout, 64, c.masking, eval_seed).loss, reported, 1e-6 * reported);
}

}  // namespace
}  // namespace loraft::train
