// loraft-pretrain end to end on the AG News training sample with a very small model: the
// result folder, its pretraining.json record, reuse of a finished run, the line-by-line and
// [CLS] target flags, and refusal of a test split as corpus.
#include <gtest/gtest.h>

#include "loraft/io/json.h"
#include "support/test_support.h"

namespace loraft {
namespace {

using io::Json;
namespace fs = std::filesystem;

testing::ProcessResult pretrain(const testing::ScratchDir& dir, const std::string& corpus_file,
                                const std::vector<std::string>& extra = {}, const std::string& validation = "5") {
  std::vector<std::string> args{testing::program("loraft-pretrain").string(), "--corpus",
       "ag_news:" + testing::data_file("samples/ag_news/" + corpus_file).string(), "--vocab",
       testing::data_file("vocab/bert-base-uncased/vocab.txt").string(), "--layers", "1", "--dim",
       "32", "--heads", "2", "--hidden-dim", "64", "--max-steps", "12", "--batch-size", "8",
       "--validation-percent", validation, "--lr", "1e-3", "--out", (dir / "out").string(), "--dtype",
       "float16", "--runs-dir", (dir / "runs").string(), "--cache-dir", (dir / "cache").string(),
       "--threads", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  return testing::run_process(args);
}

TEST(LoraftPretrain, WritesTheFolderAndItsRecord) {
  testing::ScratchDir dir;
  auto r = pretrain(dir, "train.csv");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json out = Json::parse(r.out);
  EXPECT_FALSE(out["reused"].get<bool>());
  EXPECT_EQ(out["steps"], 12);
  for (const char* name : {"config.json", "model.safetensors", "vocab.txt", "pretraining.json"})
    EXPECT_TRUE(fs::exists(dir / "out" / name)) << name;
  EXPECT_EQ(io::read_json(dir / "out" / "config.json")["torch_dtype"], "float16");
  Json record = io::read_json(dir / "out" / "pretraining.json");
  EXPECT_EQ(record["steps"], 12);
  EXPECT_EQ(record["dtype"], "float16");
  EXPECT_EQ(record["run"], fs::path(out["run_dir"].get<std::string>()).filename().string());
  EXPECT_EQ(record["run_config"]["pretrain"]["max_steps"], 12);
  // The folder's held-out loss is the one printed; with one source it is also that source's.
  EXPECT_EQ(record["heldout"]["eval_loss"], out["out_eval_loss"]);
  ASSERT_EQ(record["heldout_per_source"].size(), 1u);
  const Json& source = record["heldout_per_source"][0];
  EXPECT_EQ(source["name"], "ag_news/train");
  EXPECT_GT(source["heldout_blocks"].get<int>(), 0);
  EXPECT_NEAR(source["eval_loss"].get<double>(), out["out_eval_loss"].get<double>(), 1e-9);
  EXPECT_GT(record["heldout"]["unigram_perplexity"].get<double>(), 1.0);

  auto again = pretrain(dir, "train.csv");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(Json::parse(again.out)["reused"].get<bool>());
}

TEST(LoraftPretrain, LineByLineWithTheClsTargetIsRecorded) {
  testing::ScratchDir dir;
  auto r = pretrain(dir, "train.csv", {"--line-by-line", "--cls-bow-weight", "0.5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json record = io::read_json(dir / "out" / "pretraining.json");
  EXPECT_EQ(record["run_config"]["pretrain"]["cls_bow_weight"], 0.5);
  EXPECT_EQ(record["run_config"]["identity"]["line_by_line"], true);
  auto bad = pretrain(dir, "train.csv", {"--cls-bow-weight", "-1"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("cls_bow_weight"), std::string::npos) << bad.err;
}

TEST(LoraftPretrain, TestSplitIsRefused) {
  testing::ScratchDir dir;
  auto r = pretrain(dir, "test.csv");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("test"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out"));
}

// A JSON-lines corpus needs its text and nothing else: no `label` key.
TEST(LoraftPretrain, JsonLinesCorpusNeedsNoLabels) {
  testing::ScratchDir dir;
  std::string lines;
  for (int i = 0; i < 200; ++i)
    lines += "{\"text\": \"line " + std::to_string(i) + " of a small corpus about films and news\"}\n";
  testing::write_text(dir / "corpus.jsonl", lines);
  std::vector<std::string> args{testing::program("loraft-pretrain").string(), "--corpus",
                                "jsonl:" + (dir / "corpus.jsonl").string(), "--vocab",
                                testing::data_file("vocab/bert-base-uncased/vocab.txt").string(), "--layers", "1",
                                "--dim", "32", "--heads", "2", "--hidden-dim", "64", "--max-steps", "2",
                                "--batch-size", "4", "--block-size", "32", "--validation-percent", "10",
                                "--out", (dir / "out").string(), "--runs-dir", (dir / "runs").string(),
                                "--cache-dir", (dir / "cache").string(), "--threads", "1"};
  auto r = testing::run_process(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "out" / "model.safetensors"));
}

// No held-out text (0%, or a share that rounds to no row): nothing to measure perplexity on,
// refused before training instead of reporting a perplexity of 1.
TEST(LoraftPretrain, NoHeldOutTextIsRefused) {
  testing::ScratchDir dir;
  for (const char* percent : {"0", "0.01"}) {
    auto r = pretrain(dir, "train.csv", {}, percent);
    EXPECT_EQ(r.exit_code, 2) << percent << ": " << r.err;
    EXPECT_NE(r.err.find("no held-out blocks"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "out"));
  }
}

}  // namespace
}  // namespace loraft
