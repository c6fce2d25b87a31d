#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "loraft/core/error.h"
#include "loraft/core/hash.h"
#include "loraft/core/strings.h"
#include "loraft/core/system.h"
#include "loraft/core/threads.h"
#include "support/test_support.h"

namespace loraft {
namespace {

TEST(Error, MessageNamesPlaceProblemAndExpectation) {
  FormatError e("unterminated quoted field", at_line("train.csv", 17), "a closing '\"'");
  EXPECT_STREQ(e.what(), "train.csv:17: unterminated quoted field (expected a closing '\"')");
  EXPECT_EQ(e.where(), "train.csv:17");
  EXPECT_EQ(e.problem(), "unterminated quoted field");
  Error plain("bad");
  EXPECT_STREQ(plain.what(), "bad");
}

// Test vectors from FIPS 180-4 / NIST CSRC examples.
TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, IncrementalEqualsOneShotAndFieldsAreUnambiguous) {
  EXPECT_EQ(Sha256().update("ab").update("c").hex(), sha256_hex("abc"));
  EXPECT_NE(Sha256().update_field("ab").update_field("c").hex(),
            Sha256().update_field("a").update_field("bc").hex());
}

TEST(Sha256, FileMatchesBytesAndMissingFileIsIoError) {
  testing::ScratchDir dir;
  testing::write_text(dir / "f.txt", "abc");
  EXPECT_EQ(sha256_file(dir / "f.txt"), sha256_hex("abc"));
  EXPECT_THROW(sha256_file(dir / "missing"), IoError);
}

TEST(Threads, ConfigureGivesTheCoresToOneThreadPool) {
  EXPECT_EQ(configure_threads(1), 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  EXPECT_EQ(num_threads(), 1);
  EXPECT_EQ(configure_threads(3), 3);
  EXPECT_EQ(num_threads(), 3);
  const std::string blas = blas_threading();
  // LORAFT_TEST_BLAS: the BLAS this run was started with (tests/CMakeLists.txt runs these tests
  // again with OpenBLAS's OpenMP build).
  if (const char* expected = std::getenv("LORAFT_TEST_BLAS")) {
    EXPECT_EQ(blas, expected);
  }
  if (blas == "OpenBLAS, own threads") {
    // OpenBLAS's own threads get the cores, LibTorch's OpenMP pool one.
    EXPECT_EQ(blas_threads(), 3);
    EXPECT_EQ(at::get_num_threads(), 1);
  } else {
    // One pool: OpenBLAS runs in LibTorch's OpenMP threads, or there is no OpenBLAS.
    EXPECT_EQ(at::get_num_threads(), 3);
    if (blas == "OpenBLAS, OpenMP") {
      EXPECT_EQ(blas_threads(), 3);
    }
  }
  EXPECT_EQ(configure_threads(0), default_num_threads());
}

// Minor page faults of this process so far.
long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

TEST(Memory, FreedMemoryIsReusedWithoutPageFaults) {
  if (!keep_freed_memory()) GTEST_SKIP() << "malloc is not glibc's";
  // 64 MiB: above glibc's largest mmap threshold (32 MiB), so by default it is unmapped on free
  // and every page faults again on the next allocation.
  constexpr std::size_t kBytes = std::size_t{64} << 20, kPages = kBytes / 4096;
  auto allocate_and_touch = [] {
    auto* p = static_cast<volatile char*>(std::malloc(kBytes));
    ASSERT_NE(p, nullptr);
    for (std::size_t i = 0; i < kBytes; i += 4096) p[i] = 1;
    std::free(const_cast<char*>(p));
  };
  allocate_and_touch();  // the first use faults its pages in
  const long before = minor_faults();
  allocate_and_touch();
  EXPECT_LT(minor_faults() - before, static_cast<long>(kPages / 10));
}

TEST(Threads, ParallelForVisitsEveryIndexOnce) {
  for (int threads : {1, 2, 3, 8}) {
    std::vector<std::atomic<int>> seen(1001);
    parallel_for(seen.size(), [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) seen[i]++;
    }, threads);
    for (auto& s : seen) ASSERT_EQ(s.load(), 1);
  }
  parallel_for(0, [](std::size_t, std::size_t) { FAIL(); });
}

TEST(Threads, ParallelForRethrowsAfterAllChunks) {
  std::atomic<int> chunks{0};
  EXPECT_THROW(parallel_for(100, [&](std::size_t b, std::size_t) {
    chunks++;
    if (b == 0) throw Error("first chunk failed");
  }, 4), Error);
  EXPECT_EQ(chunks.load(), 4);
}

// What the shell receives is the string itself, whatever quotes, dollars or spaces it holds.
TEST(System, ShellQuoteSurvivesTheShellAndFirstOutputLineReadsIt) {
  for (const std::string s : {"plain", "it's", "$HOME `id` \\ \"q\"", "two  spaces", "''"})
    EXPECT_EQ(first_output_line("printf '%s\\n' " + shell_quote(s)), s) << s;
  EXPECT_EQ(first_output_line("printf 'one\\ntwo\\n'"), "one");
  EXPECT_EQ(first_output_line("printf partial; exit 3"), "") << "a failed command gives nothing";
}

TEST(System, RunProgramCapturesStdoutStatusAndSignal) {
  // stdout captured whole (more than a pipe holds at once), stderr left to this process.
  const ProgramResult big = run_program({"/bin/sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x; echo; echo err >&2"});
  EXPECT_EQ(big.status, 0);
  EXPECT_EQ(big.output, std::string(200000, 'x') + "\n");
  EXPECT_EQ(run_program({"/bin/sh", "-c", "exit 3"}).status, 3);
  EXPECT_EQ(run_program({"/bin/sh", "-c", "kill -KILL $$"}).status, 128 + 9);
  // `env` is added to this process's environment, replacing a variable of the same name.
  ::setenv("LORAFT_TEST_KEPT", "kept", 1);
  ::setenv("LORAFT_TEST_SET", "old", 1);
  EXPECT_EQ(run_program({"/bin/sh", "-c", "printf '%s %s' \"$LORAFT_TEST_KEPT\" \"$LORAFT_TEST_SET\""},
                        {"LORAFT_TEST_SET=new"})
                .output,
            "kept new");
  // A name is matched whole: LORAFT_TEST_SET=... does not replace LORAFT_TEST_SETX.
  ::setenv("LORAFT_TEST_SETX", "other", 1);
  const std::vector<std::string> env = environment_with({"LORAFT_TEST_SET=new"});
  EXPECT_EQ(std::count(env.begin(), env.end(), "LORAFT_TEST_SET=new"), 1);
  EXPECT_EQ(std::count(env.begin(), env.end(), "LORAFT_TEST_SET=old"), 0);
  EXPECT_EQ(std::count(env.begin(), env.end(), "LORAFT_TEST_SETX=other"), 1);
  EXPECT_THROW(run_program({"/nonexistent/program"}), IoError);
}

TEST(System, MachineInfoAndPeakRss) {
  const MachineInfo m = machine_info();
  EXPECT_GE(m.cores, 1u);
  EXPECT_FALSE(m.memory.empty()) << "/proc/meminfo MemTotal";
  EXPECT_GT(peak_rss_mib(), 1.0);
}

}  // namespace
}  // namespace loraft
