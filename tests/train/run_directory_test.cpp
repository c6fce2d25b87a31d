#include <gtest/gtest.h>

#include <fstream>

#include "loraft/core/error.h"
#include "loraft/io/file.h"
#include "loraft/train/run_directory.h"
#include "support/test_support.h"

namespace loraft::train {
namespace {

using io::Json;

TEST(RunDirectory, SameConfigSameFolderKeyOrderIrrelevant) {
  testing::ScratchDir root;
  Json a = Json::parse(R"({"lr": 5e-5, "method": "lora", "r": 8})");
  Json b = Json::parse(R"({"r": 8, "method": "lora", "lr": 5e-5})");
  RunDirectory ra(root.path(), a), rb(root.path(), b);
  EXPECT_EQ(ra.path(), rb.path());
  EXPECT_EQ(ra.hash().size(), 16u);
  Json c = a;
  c["r"] = 16;
  EXPECT_NE(RunDirectory(root.path(), c).path(), ra.path());
  EXPECT_EQ(io::read_json(ra.path() / "config.json"), a);
}

TEST(RunDirectory, MetricsSurviveATornLastLineAndTruncate) {
  testing::ScratchDir root;
  RunDirectory run(root.path(), Json{{"x", 1}});
  for (int s = 1; s <= 4; ++s) run.append_metrics(Json{{"step", s}, {"loss", 1.0 / s}});
  {
    std::ofstream out(run.path() / "metrics.jsonl", std::ios::app);
    out << "{\"step\": 5, \"lo";  // a crash in the middle of a write
  }
  auto m = run.metrics();
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[3]["step"], 4);
  run.truncate_metrics_after(2);
  m = run.metrics();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[1]["step"], 2);
}

TEST(RunDirectory, SummaryMarksFinished) {
  testing::ScratchDir root;
  RunDirectory run(root.path(), Json{{"x", 2}});
  EXPECT_FALSE(run.summary().has_value());
  run.write_summary(Json{{"accuracy", 0.9}});
  ASSERT_TRUE(run.summary().has_value());
  EXPECT_EQ((*run.summary())["accuracy"], 0.9);
}

TEST(RunDirectory, ForeignConfigInFolderIsAnError) {
  testing::ScratchDir root;
  Json cfg{{"x", 3}};
  RunDirectory run(root.path(), cfg);
  io::write_file_atomic(run.path() / "config.json", "{\"x\": 4}");
  EXPECT_THROW(RunDirectory(root.path(), cfg), FormatError);
}

}  // namespace
}  // namespace loraft::train
