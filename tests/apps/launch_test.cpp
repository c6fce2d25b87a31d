// loraft-launch: torchrun's environment for each rank, a failing or killed rank stopping the
// others, signals reaching the ranks, and one line with status 2 for bad input.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "support/test_support.h"

namespace loraft {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Runs loraft-launch under timeout(1): a launcher that hangs fails its test (status 124)
// instead of stopping the whole test program.
testing::ProcessResult launch(std::vector<std::string> args) {
  args.insert(args.begin(), {"timeout", "-k", "5", "20", testing::program("loraft-launch").string()});
  return testing::run_process(args);
}

std::vector<std::string> sorted_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  return lines;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(LoraftLaunch, GivesEachRankTorchrunsEnvironment) {
  // An outer launcher's RANK must be replaced; anything else is passed on.
  ::setenv("RANK", "99", 1);
  ::setenv("LORAFT_LAUNCH_TEST", "kept", 1);
  const std::string print =
      "echo \"$RANK $LOCAL_RANK $WORLD_SIZE $LOCAL_WORLD_SIZE $MASTER_ADDR $MASTER_PORT $LORAFT_LAUNCH_TEST\"";
  auto one_node = launch({"--nproc", "3", "--master-port", "29611", "--", "/bin/sh", "-c", print});
  auto second_node = launch({"--nproc", "3", "--nnodes", "2", "--node-rank", "1", "--master-addr", "10.1.2.3", "--",
                             "/bin/sh", "-c", print});
  ::unsetenv("RANK");
  ::unsetenv("LORAFT_LAUNCH_TEST");
  EXPECT_EQ(one_node.exit_code, 0) << one_node.err;
  EXPECT_EQ(sorted_lines(one_node.out),
            (std::vector<std::string>{"0 0 3 3 127.0.0.1 29611 kept", "1 1 3 3 127.0.0.1 29611 kept",
                                      "2 2 3 3 127.0.0.1 29611 kept"}));
  EXPECT_EQ(second_node.exit_code, 0) << second_node.err;
  EXPECT_EQ(sorted_lines(second_node.out),
            (std::vector<std::string>{"3 0 6 3 10.1.2.3 29500 kept", "4 1 6 3 10.1.2.3 29500 kept",
                                      "5 2 6 3 10.1.2.3 29500 kept"}));
}

// A rank script: runs `setup`, records its pid in <dir>/<RANK>.pid; rank 1 waits until every
// rank has done so (so that the others really have to be stopped) and runs `fail`; the others
// sleep 30 s, far longer than any test may take.
const char* const kRankScript = R"sh(dir=$1
eval "$3"
echo $$ > "$dir/$RANK.tmp" && mv "$dir/$RANK.tmp" "$dir/$RANK.pid"
if [ "$RANK" = 1 ]; then
  while [ "$(ls "$dir" | grep -c 'pid$')" -lt "$WORLD_SIZE" ]; do sleep 0.05; done
  eval "$2"
fi
exec sleep 30
)sh";

struct Stopped {
  testing::ProcessResult result;
  double seconds = 0;
  std::vector<pid_t> pids;  // of every rank
};

Stopped run_with_failing_rank(const testing::ScratchDir& dir, const std::string& fail, const std::string& setup,
                              const std::string& grace) {
  testing::write_text(dir / "rank.sh", kRankScript);
  const auto start = Clock::now();
  Stopped s;
  s.result = launch({"--nproc", "3", "--grace-seconds", grace, "--", "/bin/sh", (dir / "rank.sh").string(),
                     dir.path().string(), fail, setup});
  s.seconds = seconds_since(start);
  for (int rank = 0; rank < 3; ++rank) {
    std::ifstream in(dir / (std::to_string(rank) + ".pid"));
    pid_t pid = 0;
    if (in >> pid) s.pids.push_back(pid);
  }
  return s;
}

// Every rank has ended and been reaped (a rank left running, or a zombie, still answers).
void expect_all_gone(const std::vector<pid_t>& pids) {
  EXPECT_EQ(pids.size(), 3u) << "every rank wrote its pid";
  for (pid_t pid : pids) EXPECT_EQ(::kill(pid, 0), -1) << "rank with pid " << pid << " is still there";
}

TEST(LoraftLaunch, FailingRankStopsTheOthersAndGivesItsStatus) {
  testing::ScratchDir dir;
  auto s = run_with_failing_rank(dir, "exit 3", "", "10");
  EXPECT_EQ(s.result.exit_code, 3) << s.result.err;
  EXPECT_LT(s.seconds, 5) << "the others are sent SIGTERM at once, not left to the grace period";
  EXPECT_NE(s.result.err.find("loraft-launch: error: rank 1 (pid "), std::string::npos) << s.result.err;
  EXPECT_NE(s.result.err.find("exited with status 3; stopped the other ranks\n"), std::string::npos) << s.result.err;
  expect_all_gone(s.pids);
}

TEST(LoraftLaunch, KilledRankGives128PlusTheSignal) {
  testing::ScratchDir dir;
  auto s = run_with_failing_rank(dir, "kill -9 $$", "", "10");
  EXPECT_EQ(s.result.exit_code, 137) << s.result.err;
  EXPECT_LT(s.seconds, 5);
  EXPECT_NE(s.result.err.find("rank 1 (pid "), std::string::npos) << s.result.err;
  EXPECT_NE(s.result.err.find("was killed by signal 9 (Killed)"), std::string::npos) << s.result.err;
  expect_all_gone(s.pids);
}

// Ranks that ignore SIGTERM are killed once the grace period is over.
TEST(LoraftLaunch, RanksIgnoringSigtermAreKilledAfterTheGracePeriod) {
  testing::ScratchDir dir;
  auto s = run_with_failing_rank(dir, "exit 3", "trap '' TERM", "1");
  EXPECT_EQ(s.result.exit_code, 3) << s.result.err;
  EXPECT_GE(s.seconds, 1) << "SIGKILL only after --grace-seconds";
  EXPECT_LT(s.seconds, 5);
  expect_all_gone(s.pids);
}

TEST(LoraftLaunch, ForwardsSigtermToEveryRank) {
  testing::ScratchDir dir;
  testing::write_text(dir / "rank.sh", R"sh(trap 'echo got-term; exit 0' TERM
: > "$1/$RANK.ready"
sleep 30 & wait
)sh");
  testing::Background launcher({testing::program("loraft-launch").string(), "--nproc", "3", "--", "/bin/sh",
                       (dir / "rank.sh").string(), dir.path().string()},
                      dir / "out", dir / "err");
  ASSERT_GT(launcher.pid(), 0);
  // Only once every rank has set its trap does the signal test the forwarding.
  ASSERT_TRUE(testing::wait_until([&] {
    return fs::exists(dir / "0.ready") && fs::exists(dir / "1.ready") && fs::exists(dir / "2.ready");
  }, 5));
  const auto start = Clock::now();
  ASSERT_EQ(::kill(launcher.pid(), SIGTERM), 0);
  const auto status = launcher.wait_for(5);
  ASSERT_TRUE(status.has_value()) << "the launcher did not end within 5 s of SIGTERM";
  EXPECT_LT(seconds_since(start), 5);
  std::ifstream out(dir / "out"), err(dir / "err");
  std::stringstream out_text, err_text;
  out_text << out.rdbuf();
  err_text << err.rdbuf();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "every rank exited 0 after its trap; status " << *status << "; " << err_text.str();
  EXPECT_EQ(sorted_lines(out_text.str()), (std::vector<std::string>{"got-term", "got-term", "got-term"}));
}

// Bad input: status 2 and a single line `loraft-launch: error: ...` that contains `names`.
void expect_refused(const std::vector<std::string>& args, const std::string& names) {
  auto r = launch(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("loraft-launch: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(names), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(LoraftLaunch, BadCommandLineIsOneLineAndStatusTwo) {
  expect_refused({"--nproc", "0", "--", "/bin/true"}, "--nproc 0 out of range");
  expect_refused({"--nproc", "two", "--", "/bin/true"}, "--nproc");
  expect_refused({"--nproc", "2", "/bin/true"}, "no `--` before the program");
  expect_refused({"--nproc", "2", "--"}, "no program after `--`");
  expect_refused({"--nnodes", "2", "--node-rank", "2", "--", "/bin/true"}, "--node-rank 2 out of range");
}

TEST(LoraftLaunch, ProgramThatCannotStartIsOneLineAndStatusTwo) {
  expect_refused({"--nproc", "2", "--", "/nonexistent/program"}, "/nonexistent/program: cannot start it");
  testing::ScratchDir dir;
  testing::write_text(dir / "not-executable", "echo hi\n");
  expect_refused({"--", (dir / "not-executable").string()}, (dir / "not-executable").string());
}

TEST(LoraftLaunch, HelpShowsTheUsage) {
  auto r = launch({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("loraft-launch [options] -- PROGRAM [ARGS...]"), std::string::npos) << r.out;
  // After `--`, --help belongs to the program.
  r = launch({"--", "/bin/sh", "-c", "echo \"$1\"", "sh", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "--help\n");
}

}  // namespace
}  // namespace loraft
