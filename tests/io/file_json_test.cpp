#include <gtest/gtest.h>

#include <fstream>

#include "loraft/core/error.h"
#include "loraft/io/file.h"
#include "loraft/io/json.h"
#include "support/test_support.h"

namespace loraft::io {
namespace {
namespace fs = std::filesystem;

TEST(File, AtomicWriteReplacesWholeFileAndLeavesNoTemporary) {
  testing::ScratchDir dir;
  fs::path p = dir / "sub" / "out.txt";
  write_file_atomic(p, "first version, longer");
  write_file_atomic(p, "second");
  EXPECT_EQ(read_file(p), "second");
  int entries = 0;
  for (auto& e : fs::directory_iterator(p.parent_path())) (void)e, ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(File, TemporaryFileIsRemovedUnlessCommitted) {
  testing::ScratchDir dir;
  fs::path tmp_path;
  {
    TemporaryFile tmp(dir / "x");
    tmp_path = tmp.path();
    testing::write_text(tmp.path(), "partial");
  }
  EXPECT_FALSE(fs::exists(tmp_path));
  EXPECT_FALSE(fs::exists(dir / "x"));
}

TEST(File, ReadMissingFileNamesIt) {
  testing::ScratchDir dir;
  try {
    read_file(dir / "nope.txt");
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.txt"), std::string::npos);
  }
}

TEST(File, AppendLineAppends) {
  testing::ScratchDir dir;
  append_line(dir / "m.jsonl", "{\"a\":1}");
  append_line(dir / "m.jsonl", "{\"a\":2}");
  EXPECT_EQ(read_file(dir / "m.jsonl"), "{\"a\":1}\n{\"a\":2}\n");
}

TEST(Json, SyntaxErrorGivesLineAndColumn) {
  testing::ScratchDir dir;
  testing::write_text(dir / "c.json", "{\n  \"a\": 1,\n  \"b\": ]\n}\n");
  try {
    read_json(dir / "c.json");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(e.where().find("c.json:3:"), std::string::npos) << e.what();
  }
}

// A number past double's range is valid JSON syntax that no double holds: a FormatError
// naming the file, not nlohmann's out_of_range.
TEST(Json, NumberOverflowIsAFormatError) {
  testing::ScratchDir dir;
  testing::write_text(dir / "big.json", "{\"learning_rate\": 1e400}\n");
  EXPECT_THROW(read_json(dir / "big.json"), FormatError);
  testing::write_text(dir / "big.jsonl", "{\"label\": 0}\n{\"label\": -1e999}\n");
  try {
    for_each_json_line(dir / "big.jsonl", [](const Json&, long long) {});
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_EQ(e.where(), (dir / "big.jsonl").string() + ":2");
  }
}

TEST(Json, LinesReportTheBadLineNumber) {
  testing::ScratchDir dir;
  testing::write_text(dir / "x.jsonl", "{\"text\": \"a\\u2028b\"}\n\n{\"text\": 2}\n{broken\n");
  std::vector<long long> lines;
  try {
    for_each_json_line(dir / "x.jsonl", [&](const Json&, long long n) { lines.push_back(n); });
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_EQ(e.where(), (dir / "x.jsonl").string() + ":4");
  }
  EXPECT_EQ(lines, (std::vector<long long>{1, 3}));
}

TEST(Json, GetFieldNamesMissingAndMistypedKeys) {
  Json j = Json::parse(R"({"dim": 32, "name": "x", "r": 1e300, "half": 2.5})");
  EXPECT_EQ(get_field<int>(j, "dim", "config.json"), 32);
  EXPECT_THROW(get_field<int>(j, "n_layers", "config.json"), FormatError);
  EXPECT_THROW(get_field<int>(j, "name", "config.json"), FormatError);
  // A float for an integer (adapter_config.json's "r": 1e300, found by the adapter_config fuzz
  // target): nlohmann's cast would be undefined behaviour.
  EXPECT_THROW(get_field<std::int64_t>(j, "r", "adapter_config.json"), FormatError);
  EXPECT_THROW(get_field<int>(j, "half", "config.json"), FormatError);
  EXPECT_DOUBLE_EQ(get_field<double>(j, "r", "config.json"), 1e300);
}

// A run summary's checksum record names files below final/; a name the file system cannot look
// up (5,000 characters: std::filesystem_error before, found by the run_summary fuzz target) or one
// leading out of the folder counts as missing and is never read.
TEST(File, ChecksumRecordNamesOnlyFilesBelowTheFolder) {
  testing::ScratchDir dir;
  testing::write_text(dir / "final/a.txt", "a");
  testing::write_text(dir / "outside.txt", "b");
  const auto sums = folder_checksums(dir / "final");
  EXPECT_EQ(checksum_mismatch(dir / "final", sums), "");
  const std::string outside = folder_checksums(dir.path()).at("outside.txt");
  EXPECT_EQ(checksum_mismatch(dir / "final", {{"../outside.txt", outside}}), "../outside.txt: missing");
  EXPECT_EQ(checksum_mismatch(dir / "final", {{(dir / "outside.txt").string(), outside}}),
            (dir / "outside.txt").string() + ": missing");
  const std::string long_name(5000, 'a');
  EXPECT_EQ(checksum_mismatch(dir / "final", {{long_name, "x"}}), long_name + ": missing");
}

}  // namespace
}  // namespace loraft::io
