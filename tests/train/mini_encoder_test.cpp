// The shipped mini encoder (data/models/mini-distilbert): what its pretraining record says is
// what the folder does. The AG News held-out part of its corpus is the first rows of the
// shipped AG News training sample, so the folder's held-out loss on it is recomputed here
// from the recorded configuration and masking seed; the IMDB part needs the full train split
// and is checked by `make pretrain` itself (it reloads the folder it wrote).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>

#include "loraft/io/json.h"
#include "loraft/model/pretrained.h"
#include "loraft/text/bert_tokenizer.h"
#include "loraft/train/experiment.h"
#include "loraft/train/mlm.h"
#include "loraft/train/pretrainer.h"
#include "support/test_support.h"

namespace loraft::train {
namespace {

namespace fs = std::filesystem;

fs::path mini() { return testing::data_file("models/mini-distilbert"); }

io::Json record() { return io::read_json(mini() / "pretraining.json"); }

// The small budget of the transfer test (transfer-check.sh: 2,000 / 1,000 rows, 3 epochs).
constexpr std::int64_t kTransferTrainRows = 800;
constexpr std::int64_t kTransferEvalRows = 400;
constexpr std::int64_t kTransferEpochs = 2;
constexpr double kTransferMargin = 0.15;

TEST(MiniEncoder, ShippedFolderIsAtMost16MiBAndDescribesItself) {
  std::uintmax_t bytes = 0;
  for (const auto& entry : fs::directory_iterator(mini()))
    if (entry.is_regular_file()) bytes += entry.file_size();
  EXPECT_LE(bytes, 16u << 20);
  const io::Json r = record();
  const io::Json config = io::read_json(mini() / "config.json");
  for (const char* key : {"n_layers", "dim", "n_heads", "hidden_dim", "vocab_size", "max_position_embeddings"})
    EXPECT_EQ(config.at(key), r.at("run_config").at("model").at(key)) << key;
  // The corpus: training splits only, IMDB's whole train split among them.
  bool whole_imdb = false;
  for (const auto& source : r.at("run_config").at("identity").at("corpus")) {
    EXPECT_NO_THROW(check_not_test_split(source.at("name").get<std::string>(), "pretraining.json"));
    whole_imdb |= source.at("name") == "imdb/train" && source.at("texts") == 25000;
  }
  EXPECT_TRUE(whole_imdb);
}

TEST(MiniEncoder, ReloadedFolderGivesTheRecordedAgNewsHeldOutLoss) {
  const io::Json r = record();
  const io::Json& run = r.at("run_config");
  io::Json recorded;
  for (const auto& source : r.at("heldout_per_source"))
    if (source.at("name") == "ag_news/train") recorded = source;
  ASSERT_FALSE(recorded.is_null()) << "no AG News part in pretraining.json";

  auto tokenizer = text::BertTokenizer::from_file(mini() / "vocab.txt");
  MlmDataOptions data;
  data.block_size = run.at("block_size").get<std::int64_t>();
  data.map_batch_size = run.at("identity").at("map_batch_size").get<std::int64_t>();
  data.line_by_line = run.at("identity").value("line_by_line", false);
  data.validation_percent = run.at("identity").at("validation_percent").get<double>();
  testing::ScratchDir cache;
  const std::string spec = "ag_news:" + testing::data_file("samples/ag_news/train.csv").string();
  MlmSource source = prepare_mlm_source(spec, tokenizer, cache.path(), data, "test");
  // The same rows as pretraining read.
  for (const auto& s : run.at("identity").at("corpus")) {
    if (s.at("name") == "ag_news/train") {
      EXPECT_EQ(s.at("content_sha256"), source.identity.at("content_sha256"));
    }
  }
  ASSERT_EQ(source.heldout.size(), recorded.at("heldout_blocks").get<std::int64_t>());

  MaskingOptions masking;
  masking.mlm_probability = run.at("pretrain").at("mlm_probability").get<double>();
  masking.mask_token_id = run.at("pretrain").at("mask_token_id").get<std::int64_t>();
  masking.vocab_size = run.at("pretrain").at("vocab_size").get<std::int64_t>();
  auto model = model::load_masked_lm(mini());
  const auto seed = r.at("eval_seed").get<std::uint64_t>();
  MlmEvalResult ev = evaluate_mlm(model, source.heldout, 64, masking, seed);
  EXPECT_EQ(ev.masked_tokens, recorded.at("masked_tokens").get<std::int64_t>());
  // Same weights, same masked positions; only the thread count's rounding may differ.
  EXPECT_NEAR(ev.loss, recorded.at("eval_loss").get<double>(), 1e-4);
  // And it knows far more than word frequencies: the unigram baseline of the same masked
  // tokens (frequencies from this source's training part) is much worse.
  MlmEvalResult unigram = unigram_baseline(source.train, source.heldout, masking, seed);
  EXPECT_LT(ev.loss, unigram.loss - 1.0) << ev.loss << " vs unigram " << unigram.loss;
}

// Test accuracy of one small fine-tuning run from `model` on the AG News samples.
double ag_news_accuracy(const fs::path& model, Method method, const testing::ScratchDir& scratch) {
  Experiment e;
  e.model = model;
  e.vocab = mini() / "vocab.txt";
  e.train_data = "ag_news:" + testing::data_file("samples/ag_news/train.csv").string();
  e.eval_data = "ag_news:" + testing::data_file("samples/ag_news/test.csv").string();
  e.train_limit = kTransferTrainRows;
  e.eval_limit = kTransferEvalRows;
  e.train.method = method;
  e.train.learning_rate = method == Method::full ? 2e-4 : 1e-3;
  e.train.epochs = kTransferEpochs;
  RunOptions options;
  options.runs_dir = scratch / "runs";
  options.progress = false;
  return run_experiment(e, options, scratch / "cache", false).summary.at("final").at("eval_accuracy").get<double>();
}

TEST(MiniEncoder, PretrainingTransfersOnASmallBudget) {
  // scripts/transfer-check.sh's comparison, smaller: the shipped folder against the weights its
  // pretraining started from (same config, same seed, no step), fine-tuned alike.
  testing::ScratchDir scratch;
  const fs::path random = scratch / "random-init";
  const auto seed = record().at("run_config").at("pretrain").at("seed").get<std::uint64_t>();
  model::DistilBertForMaskedLM fresh(model::load_config(mini()), seed);
  save_masked_lm(random, fresh, torch::kFloat32);
  for (Method method : {Method::full, Method::lora}) {
    const double pretrained = ag_news_accuracy(mini(), method, scratch);
    const double from_scratch = ag_news_accuracy(random, method, scratch);
    EXPECT_GT(pretrained, from_scratch + kTransferMargin)
        << to_string(method) << ": pretrained " << pretrained << ", random initialisation " << from_scratch;
  }
}

}  // namespace
}  // namespace loraft::train
