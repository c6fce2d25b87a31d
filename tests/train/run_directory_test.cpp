#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <memory>
#include <thread>

#include "loraft/core/error.h"
#include "loraft/core/hash.h"
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

// Found by the run_metrics fuzz target (tests/fuzz): a record whose step is a string made
// truncate_metrics_after throw nlohmann's type_error; records that are not objects, or whose
// step, type or step_time_s have other types than the trainer writes, are a FormatError at
// file:line when read.
TEST(RunDirectory, MistypedMetricsRecordsAreAFormatError) {
  testing::ScratchDir root;
  RunDirectory run(root.path(), Json{{"x", 5}});
  const auto file = run.path() / "metrics.jsonl";
  io::write_file_atomic(file, io::read_file(testing::source_dir() /
                                            "tests/fuzz/regressions/run_metrics/crash-f50a5fda25d18ef93a401516db1e51932c3b4e79"));
  try {
    run.truncate_metrics_after(1);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_EQ(e.where(), file.string() + ":1");
    EXPECT_NE(std::string(e.what()).find("mistyped step"), std::string::npos) << e.what();
  }
  for (const char* bad : {"[1]\n", "{\"step\": 1.5}\n", "{\"type\": 1}\n", "{\"step_time_s\": \"1\"}\n"}) {
    io::write_file_atomic(file, std::string("{\"step\": 1}\n") + bad);
    try {
      run.metrics();
      FAIL() << bad;
    } catch (const FormatError& e) {
      EXPECT_EQ(e.where(), file.string() + ":2") << bad;
    }
  }
}

// Found by the run_summary fuzz target: output_checksums of another type than an object of
// strings escaped as nlohmann's type_error, a file name too long for the file system as
// std::filesystem_error. Now the first is a FormatError, the second a damaged run (runs again),
// and so is a record naming a file outside final/, which is not read.
TEST(RunDirectory, DamagedSummaryChecksumsAreCaught) {
  testing::ScratchDir root;
  RunDirectory run(root.path(), Json{{"x", 6}});
  const auto file = run.path() / "summary.json";
  const auto regressions = testing::source_dir() / "tests/fuzz/regressions/run_summary";
  io::write_file_atomic(file, io::read_file(regressions / "checksums-not-strings.json"));
  EXPECT_THROW(run.summary(), FormatError);
  io::write_file_atomic(file, R"({"output_checksums": {"a": 1}})");
  EXPECT_THROW(run.summary(), FormatError);
  io::write_file_atomic(file, "[]");
  EXPECT_THROW(run.summary(), FormatError);
  io::write_file_atomic(file, io::read_file(regressions / "checksum-name-too-long.json"));
  EXPECT_FALSE(run.summary().has_value());
  // config.json, outside final/, with its true checksum: still not a file of this run's outputs.
  io::write_file_atomic(file, Json{{"output_checksums", {{"../config.json", sha256_file(run.path() / "config.json")}}}}.dump());
  EXPECT_FALSE(run.summary().has_value());
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

// A second holder (another process, here another open file) waits until the first lets go;
// the lock file names the holder.
TEST(RunLock, SecondHolderWaitsForTheFirst) {
  testing::ScratchDir root;
  RunDirectory dir(root.path(), Json{{"run", 1}});
  auto first = std::make_unique<RunLock>(dir);
  EXPECT_EQ(io::read_file(dir.path() / ".lock"), std::to_string(::getpid()));
  std::atomic<int> order{0};
  int second_at = -1;
  std::thread waiter([&] {
    RunLock second(dir);
    second_at = order.fetch_add(1);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int released_at = order.fetch_add(1);
  first.reset();
  waiter.join();
  EXPECT_EQ(released_at, 0);
  EXPECT_EQ(second_at, 1) << "the second holder got the lock only after the first released it";
}

// A holder killed with SIGKILL leaves no stale lock: the kernel releases it.
TEST(RunLock, AKilledHolderLeavesNoStaleLock) {
  testing::ScratchDir root;
  RunDirectory dir(root.path(), Json{{"run", 2}});
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    RunLock held(dir);
    ::raise(SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  std::atomic<bool> locked{false};
  std::thread taker([&] {
    RunLock mine(dir);
    locked = true;
  });
  for (int i = 0; i < 100 && !locked; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(locked) << "the lock of a killed process is free at once";
  if (!locked) taker.detach(); else taker.join();
}

}  // namespace
}  // namespace loraft::train
