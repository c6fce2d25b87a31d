// loraft-cache as a black box: builds, then hits, the cache for the shipped samples; reports
// bad input in one line with exit status 2; --help lists every flag.

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.h"

using loraft::testing::data_file;
using loraft::testing::program;
using loraft::testing::run_process;
using loraft::testing::ScratchDir;
using loraft::testing::write_text;

namespace {

std::vector<std::vector<std::string>> rows_of(const std::string& out) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::istringstream ls(line);
    std::string f;
    while (std::getline(ls, f, '\t')) fields.push_back(f);
    rows.push_back(fields);
  }
  return rows;
}

std::vector<std::string> base_args(const ScratchDir& dir) {
  return {program("loraft-cache").string(), "--vocab",
          data_file("vocab/bert-base-uncased/vocab.txt").string(), "--cache-dir",
          (dir / "cache").string(), "--max-length", "64"};
}

}  // namespace

TEST(CacheApp, BuildsThenHits) {
  ScratchDir dir;
  auto args = base_args(dir);
  for (const std::string& a : {"imdb:" + data_file("samples/imdb").string() + ":test",
                               "ag_news:" + data_file("samples/ag_news/test.csv").string()}) {
    args.push_back("--data");
    args.push_back(a);
  }

  const auto first = run_process(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto rows = rows_of(first.out);
  ASSERT_EQ(rows.size(), 3u) << first.out;
  EXPECT_EQ(rows[0], (std::vector<std::string>{"dataset", "status", "rows", "tokens", "seconds", "key", "path"}));
  EXPECT_EQ(rows[1][0], "imdb/test");
  EXPECT_EQ(rows[1][1], "built");
  EXPECT_EQ(rows[1][2], "1000");
  EXPECT_EQ(rows[2][0], "ag_news/test");
  EXPECT_EQ(rows[2][2], "1000");
  EXPECT_EQ(rows[1][5].size(), 64u);
  EXPECT_EQ(rows[1][6], (dir / "cache" / (rows[1][5] + ".h5")).string());
  EXPECT_GT(std::stoll(rows[1][3]), 1000 * 3);

  const auto second = run_process(args);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto again = rows_of(second.out);
  ASSERT_EQ(again.size(), 3u);
  EXPECT_EQ(again[1][1], "hit");
  EXPECT_EQ(again[2][1], "hit");
  EXPECT_EQ(again[1][5], rows[1][5]);
  EXPECT_EQ(again[1][3], rows[1][3]);

  // A damaged file is rebuilt, with a warning on stderr.
  write_text(rows[2][6], "damaged");
  const auto third = run_process(args);
  ASSERT_EQ(third.exit_code, 0) << third.err;
  EXPECT_EQ(rows_of(third.out)[2][1], "rebuilt");
  EXPECT_NE(third.err.find("warning"), std::string::npos);
}

TEST(CacheApp, Tables) {
  ScratchDir dir;
  write_text(dir / "t.jsonl", "{\"text\": \"hello world\", \"label\": \"pos\"}\n{\"text\": \"bye\", \"label\": \"neg\"}\n");
  auto args = base_args(dir);
  args.insert(args.end(), {"--data", "jsonl:" + (dir / "t.jsonl").string(), "--label-names", "neg", "pos"});
  const auto r = run_process(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = rows_of(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][0], "t");
  EXPECT_EQ(rows[1][2], "2");
  EXPECT_EQ(rows[1][3], "7");  // [CLS] hello world [SEP] [CLS] bye [SEP]
}

TEST(CacheApp, ErrorsAndHelp) {
  ScratchDir dir;
  auto args = base_args(dir);
  auto r = run_process(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("loraft-cache: error: "), std::string::npos) << r.err;

  write_text(dir / "bad.csv", "\"1\",\"unterminated\n");
  args.push_back("--data");
  args.push_back("ag_news:" + (dir / "bad.csv").string());
  r = run_process(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.csv:1: unterminated quoted field"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  r = run_process({program("loraft-cache").string(), "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--data", "--text-column",
                           "--label-column", "--no-header", "--label-names", "--label-offset",
                           "--num-labels", "--vocab", "--cased", "--cache-dir", "--max-length",
                           "--no-truncation", "--threads", "--deflate"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
}
