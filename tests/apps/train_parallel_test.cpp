// Data-parallel loraft-train on 2 CPU ranks (Gloo on localhost), against one process: the
// same parameters to float32 rounding for every method, dropout keyed per micro-batch, a rank
// killed mid-run and the run resumed with 2 ranks and with 1, disagreeing ranks, bad settings.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"
#include "support/test_support.h"

namespace loraft {
namespace {

using io::Json;
namespace fs = std::filesystem;

// Ports of this file's tests: apart from the defaults (29500) and from each other, so that
// tests that run at the same time do not meet.
constexpr int kPortBase = 29731;

// The tiny fixture model with every dropout of its own at 0 (the LoRA dropout is a flag).
fs::path model_without_dropout(const testing::ScratchDir& dir) {
  const fs::path model = dir / "tiny-no-dropout";
  fs::create_directories(model);
  for (const auto& f : fs::directory_iterator(testing::fixture("distilbert-tiny")))
    fs::copy(f.path(), model / f.path().filename());
  Json config = io::read_json(model / "config.json");
  config["dropout"] = 0.0;
  config["attention_dropout"] = 0.0;
  config["seq_classif_dropout"] = 0.0;
  fs::remove(model / "config.json");
  testing::write_text(model / "config.json", config.dump(2));
  return model;
}

using Flags = std::vector<std::pair<std::string, std::string>>;

// loraft-train on 256 AG News rows, one epoch of 16 steps, with `flags` set (replacing the
// defaults here) and run folders in dir/runs.
std::vector<std::string> train_args(const fs::path& model, const fs::path& dir, const std::string& runs,
                                    const Flags& flags) {
  Flags all{{"--model", model.string()},
            {"--vocab", (testing::fixture("distilbert-tiny") / "vocab.txt").string()},
            {"--train", "ag_news:" + testing::data_file("samples/ag_news/train.csv").string()},
            {"--eval", "ag_news:" + testing::data_file("samples/ag_news/test.csv").string()},
            {"--train-limit", "256"}, {"--eval-limit", "100"}, {"--epochs", "1"}, {"--max-length", "64"},
            {"--lr", "1e-3"}, {"--r", "4"}, {"--lora-alpha", "16"}, {"--dropout-seeding", "per_batch"},
            {"--threads", "1"}, {"--runs-dir", (dir / runs).string()}, {"--cache-dir", (dir / "cache").string()}};
  for (const auto& [flag, value] : flags) {
    auto it = std::find_if(all.begin(), all.end(), [&](const auto& f) { return f.first == flag; });
    if (it != all.end())
      it->second = value;
    else
      all.emplace_back(flag, value);
  }
  // Full fine-tuning has no LoRA settings: loraft-train refuses them.
  const bool full = std::any_of(all.begin(), all.end(), [](const auto& f) { return f.first == "--method" && f.second == "full"; });
  std::vector<std::string> argv{testing::program("loraft-train").string()};
  for (const auto& [flag, value] : all) {
    if (full && (flag == "--r" || flag == "--lora-alpha" || flag == "--lora-dropout")) continue;
    argv.push_back(flag);
    argv.push_back(value);
  }
  return argv;
}

std::vector<std::string> launched(int nproc, int port, std::vector<std::string> argv) {
  std::vector<std::string> l{testing::program("loraft-launch").string(), "--nproc", std::to_string(nproc),
                             "--master-port", std::to_string(port), "--"};
  l.insert(l.end(), argv.begin(), argv.end());
  return l;
}

// The weights final/ holds (adapter or whole model), by name.
std::map<std::string, torch::Tensor> final_weights(const fs::path& run_dir) {
  const fs::path file = fs::exists(run_dir / "final" / "model.safetensors")
                            ? run_dir / "final" / "model.safetensors"
                            : run_dir / "final" / "adapter_model.safetensors";
  io::SafetensorsFile f(file);
  std::map<std::string, torch::Tensor> out;
  for (const auto& name : f.names()) out[name] = f.tensor(name).clone();
  return out;
}

// Largest |a - b| over every tensor; the names must match. Left out: the attention's key
// biases, whose gradient is 0 in exact arithmetic (a key bias adds the same number to every
// score of a query, which the softmax ignores): what trains them is rounding noise, which
// AdamW's m / sqrt(v) turns into lr-sized steps of either sign, and they change no output.
double max_difference(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  std::string where;
  for (const auto& [name, t] : a) {
    if (!b.count(name)) {
      ADD_FAILURE() << "missing " << name;
      continue;
    }
    if (name.find("k_lin.bias") != std::string::npos) continue;
    const double d = (t - b.at(name)).abs().max().item<double>();
    if (d > worst) worst = d, where = name;
  }
  std::cerr << "largest difference " << worst << " in " << where << "\n";
  return worst;
}

Json last_json_line(const std::string& out) {
  const auto end = out.find_last_not_of('\n');
  const auto begin = out.rfind('\n', end);
  return Json::parse(out.substr(begin == std::string::npos ? 0 : begin + 1, end + 1));
}

// Records of a run folder by type.
int count_records(const fs::path& run_dir, const std::string& type) {
  int n = 0;
  std::istringstream in(testing::read_text(run_dir / "metrics.jsonl"));
  for (std::string line; std::getline(in, line);) n += Json::parse(line).value("type", "") == type;
  return n;
}

// Float32 rounding, not 0: the two ranks' parts of a batch are summed in another order than
// one process sums the whole batch, and AdamW's m / sqrt(v) carries those last-bit differences
// into every step; 16 steps at lr 1e-3 keep them far below the updates themselves (~1e-2).
constexpr double kTolerance = 2e-5;

TEST(DataParallel, TwoRanksEqualOneProcessForEveryMethod) {
  testing::ScratchDir dir;
  const fs::path model = model_without_dropout(dir);
  int port = kPortBase;
  for (const std::string method : {"full", "lora", "loraplus"}) {
    SCOPED_TRACE(method);
    const Flags flags{{"--method", method}, {"--lora-dropout", "0"}};
    auto one = testing::run_process(train_args(model, dir.path(), "one-" + method, flags));
    ASSERT_EQ(one.exit_code, 0) << one.err;
    auto two = testing::run_process(launched(2, port++, train_args(model, dir.path(), "two-" + method, flags)));
    ASSERT_EQ(two.exit_code, 0) << two.err;
    const Json a = last_json_line(one.out), b = last_json_line(two.out);
    EXPECT_EQ(std::count(two.out.begin(), two.out.end(), '\n'), 1) << "rank 0 alone reports: " << two.out;
    // The same configuration, so the same folder name; one record per step and evaluation.
    EXPECT_EQ(fs::path(a["run_dir"].get<std::string>()).filename(), fs::path(b["run_dir"].get<std::string>()).filename());
    const fs::path run = b["run_dir"].get<std::string>();
    EXPECT_EQ(count_records(run, "step"), 16);
    EXPECT_EQ(count_records(run, "eval"), 1);
    EXPECT_EQ(io::read_json(run / "summary.json")["world_size"], 2);
    EXPECT_EQ(a["eval_accuracy"], b["eval_accuracy"]);
    EXPECT_NEAR(a["eval_loss"].get<double>(), b["eval_loss"].get<double>(), 1e-5);
    EXPECT_LT(max_difference(final_weights(a["run_dir"].get<std::string>()), final_weights(run)), kTolerance);
  }
}

// With dropout on, each rank's half of a batch draws its masks from a generator keyed by the
// seed, the epoch and the half's first row: exactly what one process running the halves as
// micro-batches (batch 8, 2 accumulation steps) draws. So that run is the reference.
TEST(DataParallel, WithDropoutTwoRanksEqualOneProcessAccumulatingTheirParts) {
  testing::ScratchDir dir;
  const fs::path model = testing::fixture("distilbert-tiny");
  auto one = testing::run_process(
      train_args(model, dir.path(), "one", {{"--batch-size", "8"}, {"--gradient-accumulation-steps", "2"}}));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto two = testing::run_process(launched(2, kPortBase + 5, train_args(model, dir.path(), "two", {})));
  ASSERT_EQ(two.exit_code, 0) << two.err;
  const Json a = last_json_line(one.out), b = last_json_line(two.out);
  EXPECT_LT(max_difference(final_weights(a["run_dir"].get<std::string>()), final_weights(b["run_dir"].get<std::string>())),
            kTolerance);
  EXPECT_EQ(a["eval_accuracy"], b["eval_accuracy"]);
  // And dropout did act: without it the result differs.
  auto off = testing::run_process(launched(2, kPortBase + 6, train_args(model, dir.path(), "off", {{"--lora-dropout", "0"}})));
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_GT(max_difference(final_weights(last_json_line(off.out)["run_dir"].get<std::string>()),
                           final_weights(b["run_dir"].get<std::string>())),
            1e-4);
}

// Rank 1 killed mid-epoch: rank 0 stops within the timeout naming it, keeps its last whole
// checkpoint, and the rerun (2 ranks, or 1) resumes and ends where an uninterrupted run does.
TEST(DataParallel, KilledRankStopsTheOtherAndTheRunResumes) {
  testing::ScratchDir dir;
  const fs::path model = model_without_dropout(dir);
  const Flags extra{{"--lora-dropout", "0"}, {"--epochs", "3"}, {"--checkpoint-every", "1"}, {"--dist-timeout", "10"}};
  auto whole = testing::run_process(launched(2, kPortBase + 10, train_args(model, dir.path(), "whole", extra)));
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const auto reference = final_weights(last_json_line(whole.out)["run_dir"].get<std::string>());
  const std::string hash = fs::path(last_json_line(whole.out)["run_dir"].get<std::string>()).filename();

  for (int nproc : {2, 1}) {
    SCOPED_TRACE("resumed with " + std::to_string(nproc) + " ranks");
    const std::string runs = "killed-" + std::to_string(nproc);
    const std::string port = std::to_string(kPortBase + 11 + nproc);
    std::vector<std::unique_ptr<testing::Background>> ranks;
    for (int r = 0; r < 2; ++r)
      ranks.push_back(std::make_unique<testing::Background>(
          train_args(model, dir.path(), runs, extra), dir / ("out" + std::to_string(r)),
          dir / ("err" + std::to_string(r)),
          std::vector<std::string>{"WORLD_SIZE=2", "RANK=" + std::to_string(r), "MASTER_PORT=" + port}));
    const fs::path checkpoints = dir / runs / hash / "checkpoints";
    // Killed once rank 0 has checkpointed step 5 or a later one (a checkpoint per step).
    auto past_step_5 = [&] {
      if (!fs::exists(checkpoints)) return false;
      for (const auto& c : fs::directory_iterator(checkpoints))
        if (c.path().filename().string() >= "step-00000005") return true;
      return false;
    };
    ASSERT_TRUE(testing::wait_until(past_step_5, 60))
        << testing::read_text(dir / "err0") << testing::read_text(dir / "err1");
    ASSERT_EQ(::kill(ranks[1]->pid(), SIGKILL), 0);
    const auto status = ranks[0]->wait_for(30);
    ASSERT_TRUE(status.has_value()) << "rank 0 did not stop";
    const std::string err = testing::read_text(dir / "err0");
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << err;
    EXPECT_NE(err.find("rank 1"), std::string::npos) << err;
    EXPECT_FALSE(fs::exists(dir / runs / hash / "summary.json"));

    auto rerun = nproc == 2 ? testing::run_process(launched(2, kPortBase + 20 + nproc, train_args(model, dir.path(), runs, extra)))
                            : testing::run_process(train_args(model, dir.path(), runs, extra));
    ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
    EXPECT_EQ(count_records(dir / runs / hash, "step"), 48) << "no step recorded twice";
    EXPECT_LT(max_difference(final_weights(dir / runs / hash), reference), kTolerance);
  }
}

// Rank 1 stopped (SIGSTOP) mid-run: rank 0 gives up after the timeout, naming it.
TEST(DataParallel, HungRankStopsTheOtherWithinTheTimeout) {
  testing::ScratchDir dir;
  const Flags flags{{"--epochs", "3"}, {"--checkpoint-every", "1"}, {"--dist-timeout", "3"}};
  std::vector<std::unique_ptr<testing::Background>> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.push_back(std::make_unique<testing::Background>(
        train_args(testing::fixture("distilbert-tiny"), dir.path(), "runs", flags), dir / ("out" + std::to_string(r)),
        dir / ("err" + std::to_string(r)),
        std::vector<std::string>{"WORLD_SIZE=2", "RANK=" + std::to_string(r),
                                 "MASTER_PORT=" + std::to_string(kPortBase + 25)}));
  // Stopped once training is under way (a checkpoint per step), so that rank 0 waits in a
  // collective; a rank stopped earlier is named by the start-up comparisons the same way.
  ASSERT_TRUE(testing::wait_until([&] {
    const fs::path run = dir / "runs";
    if (!fs::exists(run)) return false;
    for (const auto& r : fs::directory_iterator(run))
      if (fs::exists(r.path() / "checkpoints") && !fs::is_empty(r.path() / "checkpoints")) return true;
    return false;
  }, 60));
  ASSERT_EQ(::kill(ranks[1]->pid(), SIGSTOP), 0);
  const auto start = std::chrono::steady_clock::now();
  const auto status = ranks[0]->wait_for(30);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(status.has_value()) << "rank 0 did not stop";
  const std::string err = testing::read_text(dir / "err0");
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << err;
  EXPECT_NE(err.find("rank 1 died or hung"), std::string::npos) << err;
  EXPECT_LT(waited, 3 + 5 + 5) << "the timeout (3 s), the wait for word from the others (5 s), slack";
  ::kill(ranks[1]->pid(), SIGKILL);
}

TEST(DataParallel, RanksThatDisagreeTrainNothing) {
  testing::ScratchDir dir;
  const fs::path model = model_without_dropout(dir);
  // Each rank its own seed: `sh` reads RANK as the launcher set it.
  auto args = train_args(model, dir.path(), "runs", {});
  std::string command = "exec";
  for (const auto& a : args) command += " '" + a + "'";
  command += " --seed $((RANK + 1))";
  auto r = testing::run_process(launched(2, kPortBase + 30, {"/bin/sh", "-c", command}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("the run configuration's hash differs between ranks"), std::string::npos) << r.err;
  if (!fs::exists(dir / "runs")) return;
  for (const auto& run : fs::directory_iterator(dir / "runs")) EXPECT_EQ(count_records(run.path(), "step"), 0);
}

// One line and status 2 each.
void expect_refused(const testing::ProcessResult& r, const std::string& names) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("loraft-train: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(names), std::string::npos) << r.err;
}

TEST(DataParallel, BadSettingsAreOneLineErrors) {
  testing::ScratchDir dir;
  const fs::path model = testing::fixture("distilbert-tiny");
  expect_refused(testing::run_process(train_args(model, dir.path(), "r", {{"--world-size", "0"}})), "--world-size 0");
  expect_refused(testing::run_process(train_args(model, dir.path(), "r", {{"--world-size", "2"}, {"--rank", "2"}})),
                 "0 <= rank < 2");
  // Nobody listening: rank 1 gives up after the timeout, naming where it looked.
  expect_refused(testing::run_process(train_args(model, dir.path(), "r",
                                                 {{"--world-size", "2"}, {"--rank", "1"},
                                                  {"--master-port", std::to_string(kPortBase + 40)},
                                                  {"--dist-timeout", "2"}})),
                 "127.0.0.1:" + std::to_string(kPortBase + 40));
  // A port another program holds.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(kPortBase + 41);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  expect_refused(testing::run_process(train_args(model, dir.path(), "r",
                                                 {{"--world-size", "2"}, {"--rank", "0"},
                                                  {"--master-port", std::to_string(kPortBase + 41)},
                                                  {"--dist-timeout", "2"}})),
                 "rendezvous failed");
  ::close(fd);
  // Dropout from one stream cannot be shared out between ranks.
  auto args = train_args(model, dir.path(), "r", {{"--dropout-seeding", "stream"}});
  auto r = testing::run_process(launched(2, kPortBase + 42, args));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("per_batch"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace loraft
