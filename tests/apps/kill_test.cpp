// loraft-train killed with SIGKILL at chosen points of its work (LORAFT_FAULT: after a step,
// inside a checkpoint write, inside an evaluation) and stopped with SIGINT, then run again:
// it ends with the final weights and evaluation records of an uninterrupted run, bit for bit
// on the CPU, and what a killed run leaves is readable. The same
// after a full disk and after a NaN injected into the loss or a gradient (LORAFT_FAULT=nan-*).
#include <signal.h>
#include <sys/wait.h>

#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "loraft/io/json.h"
#include "support/test_support.h"

namespace loraft {
namespace {

using io::Json;
namespace fs = std::filesystem;

// Full fine-tuning of the tiny fixture: 256 rows, batch 16, 2 epochs (32 steps), a checkpoint
// every 3 steps, evaluation on 128 rows (8 batches) at each epoch's end.
std::vector<std::string> train_args(const fs::path& dir) {
  return {testing::program("loraft-train").string(),
          "--model", testing::fixture("distilbert-tiny").string(),
          "--train", "ag_news:" + testing::data_file("samples/ag_news/train.csv").string(),
          "--eval", "ag_news:" + testing::data_file("samples/ag_news/test.csv").string(),
          "--train-limit", "256", "--eval-limit", "128", "--epochs", "2", "--max-length", "64",
          "--lr", "1e-3", "--method", "full", "--checkpoint-every", "3", "--threads", "1",
          "--runs-dir", (dir / "runs").string(), "--cache-dir", (dir / "cache").string()};
}

// `args` run with `env` ("NAME=value") added to the environment.
testing::ProcessResult run_with(const std::vector<std::string>& env, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/bin/env"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::run_process(argv);
}

// The only run folder under `dir`/runs.
fs::path run_dir(const fs::path& dir) {
  std::vector<fs::path> runs;
  for (const auto& e : fs::directory_iterator(dir / "runs"))
    if (e.is_directory()) runs.push_back(e.path());
  EXPECT_EQ(runs.size(), 1u);
  return runs.empty() ? fs::path() : runs.front();
}

// What must equal an uninterrupted run's: the bytes of final/ and the evaluation records
// (without their times).
struct Outcome {
  std::map<std::string, std::string> final_files;
  std::vector<Json> evals;
};

Outcome outcome(const fs::path& run) {
  Outcome o;
  for (const auto& e : fs::directory_iterator(run / "final")) o.final_files[e.path().filename()] = testing::read_text(e.path());
  std::istringstream lines(testing::read_text(run / "metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    Json j = Json::parse(line);
    if (j.at("type") != "eval") continue;
    for (auto it = j.begin(); it != j.end();)
      it = it.key().find("time") != std::string::npos ? j.erase(it) : std::next(it);
    o.evals.push_back(j);
  }
  return o;
}

// What a killed run leaves: no summary, each metrics line but a torn last one is JSON, each
// checkpoint is whole (its checksums written last) and no step is recorded twice.
void check_leftovers(const fs::path& run) {
  EXPECT_FALSE(fs::exists(run / "summary.json"));
  std::istringstream lines(testing::read_text(run / "metrics.jsonl"));
  std::vector<std::string> all;
  for (std::string line; std::getline(lines, line);) all.push_back(line);
  std::set<std::int64_t> steps;
  for (std::size_t i = 0; i + 1 < all.size(); ++i) {
    const Json j = Json::parse(all[i]);
    if (j.at("type") == "step") {
      EXPECT_TRUE(steps.insert(j.at("step").get<std::int64_t>()).second) << all[i];
    }
  }
  if (fs::exists(run / "checkpoints"))
    for (const auto& c : fs::directory_iterator(run / "checkpoints"))
      if (c.path().filename().string().rfind("step-", 0) == 0) {
        EXPECT_TRUE(fs::exists(c.path() / "checksums.json")) << c.path();
        EXPECT_NO_THROW(io::read_json(c.path() / "state.json")) << c.path();
      }
}

void expect_same(const Outcome& got, const Outcome& want) {
  ASSERT_EQ(got.final_files.size(), want.final_files.size());
  for (const auto& [name, bytes] : want.final_files) EXPECT_TRUE(got.final_files.at(name) == bytes) << name;
  ASSERT_EQ(got.evals.size(), want.evals.size());
  for (std::size_t i = 0; i < want.evals.size(); ++i) EXPECT_EQ(got.evals[i], want.evals[i]) << i;
}

// What a stopped run in `dir` left is readable; the same command again ends as `want`.
void resume_and_compare(const fs::path& dir, const Outcome& want) {
  check_leftovers(run_dir(dir));
  auto again = testing::run_process(train_args(dir));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  expect_same(outcome(run_dir(dir)), want);
}

// The uninterrupted run, trained once per test program.
const Outcome& uninterrupted() {
  static const testing::ScratchDir dir;
  static const Outcome o = [] {
    auto clean = testing::run_process(train_args(dir.path()));
    EXPECT_EQ(clean.exit_code, 0) << clean.err;
    return outcome(run_dir(dir.path()));
  }();
  return o;
}

TEST(KillAndResume, KilledAnywhereEndsAsAnUninterruptedRun) {
  const Outcome& want = uninterrupted();
  ASSERT_EQ(want.evals.size(), 2u);

  // step:5 mid-epoch between checkpoints; step:16 at the first epoch's end, before its
  // evaluation; checkpoint:2 inside the second checkpoint's write; evaluation:3 inside the
  // first evaluation, evaluation:12 inside the second.
  for (const std::string fault : {"step:5", "step:16", "checkpoint:2", "evaluation:3", "evaluation:12"}) {
    SCOPED_TRACE(fault);
    testing::ScratchDir dir;
    auto killed = run_with({"LORAFT_FAULT=" + fault}, train_args(dir.path()));
    EXPECT_EQ(killed.exit_code, 128 + SIGKILL) << killed.err;
    resume_and_compare(dir.path(), want);
  }
}

TEST(KillAndResume, SigintStopsAfterTheStepWithItsCheckpointAndResumes) {
  const Outcome& want = uninterrupted();

  // SIGINT raised by the process itself after step 5 (LORAFT_FAULT=step:5:INT): what a Ctrl-C
  // then does, at a known step.
  testing::ScratchDir dir;
  testing::Background run(train_args(dir.path()), dir / "out.txt", dir / "err.txt", {"LORAFT_FAULT=step:5:INT"});
  const auto status = run.wait_for(120);
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status)) << testing::read_text(dir / "err.txt");
  EXPECT_EQ(WEXITSTATUS(*status), 128 + SIGINT);
  const std::string err = testing::read_text(dir / "err.txt");
  EXPECT_NE(err.find("stopped by SIGINT after step 5, its checkpoint saved"), std::string::npos) << err;
  EXPECT_TRUE(fs::exists(run_dir(dir.path()) / "checkpoints/step-00000005")) << "the step under way is kept";
  resume_and_compare(dir.path(), want);
}

// A full disk, as a file-size limit (`ulimit -f`) makes it: the first checkpoint cannot be
// written; one line, exit 2, no temporary file left; with room again the run resumes to the
// uninterrupted result.
TEST(KillAndResume, FullDiskIsOneLineAndTheRunResumes) {
  const Outcome& want = uninterrupted();
  testing::ScratchDir dir;
  // 200 blocks of 512 bytes (sh): a cache file fits, a checkpoint of the tiny model does not.
  std::string command = "ulimit -f 200 && exec";
  for (const auto& a : train_args(dir.path())) command += " '" + a + "'";
  auto full = testing::run_process({"/bin/sh", "-c", command});
  EXPECT_EQ(full.exit_code, 2) << full.err;
  EXPECT_NE(full.err.find("loraft-train: error: "), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("(disk full?)"), std::string::npos) << full.err;
  for (const auto& e : fs::recursive_directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  resume_and_compare(dir.path(), want);
}

// A NaN injected into the loss or into a gradient (LORAFT_FAULT=nan-loss:N / nan-gradient:N)
// at step 5: one line naming the step (and for a gradient the parameter), exit 2, the run
// left unfinished with its last good checkpoint (step 3) and no summary; the same command
// without the fault resumes there and ends as the uninterrupted run.
TEST(KillAndResume, NonFiniteLossOrGradientStopsNamingStepAndParameter) {
  const Outcome& want = uninterrupted();
  const std::vector<std::pair<std::string, std::string>> faults{
      {"nan-loss:5", "the loss is "},
      {"nan-gradient:5", "(classifier.bias is the first parameter whose gradient holds it)"}};
  for (const auto& [fault, says] : faults) {
    SCOPED_TRACE(fault);
    testing::ScratchDir dir;
    auto failed = run_with({"LORAFT_FAULT=" + fault}, train_args(dir.path()));
    EXPECT_EQ(failed.exit_code, 2) << failed.err;
    const auto at = failed.err.find("loraft-train: error: ");
    ASSERT_NE(at, std::string::npos) << failed.err;
    const std::string line = failed.err.substr(at);
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
    EXPECT_NE(line.find(says), std::string::npos) << line;
    EXPECT_NE(line.find("nan"), std::string::npos) << line;
    EXPECT_NE(line.find("step 5"), std::string::npos) << line;
    const fs::path run = run_dir(dir.path());
    EXPECT_TRUE(fs::exists(run / "checkpoints/step-00000003"));
    EXPECT_FALSE(fs::exists(run / "checkpoints/step-00000005"));
    resume_and_compare(dir.path(), want);
  }
}

}  // namespace
}  // namespace loraft
