// scripts/fetch-data.sh with --mirror on small archives and folders the tests make
// themselves (always --offline: a test never touches the network), and the readers on what
// it installs.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "loraft/core/error.h"
#include "loraft/core/hash.h"
#include "loraft/data/ag_news.h"
#include "loraft/data/imdb.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using loraft::testing::ProcessResult;
using loraft::testing::run_process;
using loraft::testing::ScratchDir;
using loraft::testing::source_dir;
using loraft::testing::write_text;

namespace {

ProcessResult fetch(std::vector<std::string> args) {
  args.insert(args.begin(), {"bash", (source_dir() / "scripts" / "fetch-data.sh").string()});
  return run_process(args);
}

// A tiny aclImdb tree under `base`: two reviews per label for each split in `splits`.
void make_imdb(const fs::path& base, const std::vector<std::string>& splits) {
  write_text(base / "aclImdb" / "README", "Large Movie Review Dataset v1.0 (test copy)\n");
  for (const auto& s : splits) {
    write_text(base / "aclImdb" / s / "pos" / "0_9.txt", s + " great<br /><br />film");
    write_text(base / "aclImdb" / s / "pos" / "10_7.txt", s + " good, caf\xC3\xA9");
    write_text(base / "aclImdb" / s / "neg" / "1_1.txt", s + " awful");
    write_text(base / "aclImdb" / s / "neg" / "3_4.txt", s + " dull");
  }
}

void tar(const fs::path& archive, const std::string& flag, const fs::path& base) {
  const ProcessResult r = run_process({"tar", flag, archive.string(), "-C", base.string(), "aclImdb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

bool have(const std::string& program) {
  return run_process({"sh", "-c", "command -v " + program}).exit_code == 0;
}

}  // namespace

TEST(FetchData, TrainOnlyArchiveMirrorInstallsTrainAndSaysTestIsMissing) {
  ScratchDir dir;
  make_imdb(dir / "src", {"train"});
  const fs::path archive = dir / "mirror.tar.gz";
  tar(archive, "-czf", dir / "src");
  const std::string sha = loraft::sha256_file(archive);

  const ProcessResult r = fetch({"--offline", "--dest", (dir / "out").string(), "--mirror",
                                 archive.string(), "--mirror-sha256", sha, "imdb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("no test split"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("matches --mirror-sha256"), std::string::npos) << r.err;

  const auto train = loraft::data::read_imdb(dir / "out" / "imdb", "train");
  const auto source = loraft::data::read_imdb(dir / "src", "train");
  EXPECT_EQ(train.texts, source.texts);
  EXPECT_EQ(train.labels, (std::vector<std::int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(train.source_sha256, source.source_sha256);
  EXPECT_TRUE(fs::exists(dir / "out" / "imdb" / "aclImdb" / "README"));
  EXPECT_THROW(loraft::data::read_imdb(dir / "out" / "imdb", "test"), loraft::IoError);
  // Nothing left behind but the data.
  for (const auto& e : fs::directory_iterator(dir / "out"))
    EXPECT_EQ(e.path().filename(), "imdb") << e.path();
}

TEST(FetchData, UnlistedOrWrongArchivesAreRefused) {
  ScratchDir dir;
  make_imdb(dir / "src", {"train", "test"});
  const fs::path archive = dir / "mirror.tar.gz";
  tar(archive, "-czf", dir / "src");
  const std::string out = (dir / "out").string();

  ProcessResult r = fetch({"--offline", "--dest", out, "--mirror", archive.string(), "imdb"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not listed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--mirror-sha256"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out" / "imdb"));

  r = fetch({"--offline", "--dest", out, "--mirror", archive.string(), "--mirror-sha256",
             std::string(64, 'a'), "imdb"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not the --mirror-sha256"), std::string::npos) << r.err;

  r = fetch({"--offline", "--dest", out, "--mirror", archive.string(), "--no-verify", "imdb"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("unverified"), std::string::npos) << r.err;
  EXPECT_EQ(loraft::data::read_imdb(dir / "out" / "imdb", "test").size(), 4u);
}

TEST(FetchData, XzArchiveWithBothSplits) {
  if (!have("xz")) GTEST_SKIP() << "xz is not installed";
  ScratchDir dir;
  make_imdb(dir / "src", {"train", "test"});
  const fs::path archive = dir / "mirror.tar.xz";
  tar(archive, "-cJf", dir / "src");
  const ProcessResult r = fetch({"--offline", "--dest", (dir / "out").string(), "--mirror", archive.string(),
                                 "--mirror-sha256", loraft::sha256_file(archive), "imdb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_EQ(loraft::data::read_imdb(dir / "out" / "imdb", "test").texts,
            loraft::data::read_imdb(dir / "src", "test").texts);

  // Complete now: a second run leaves it alone.
  const ProcessResult again = fetch({"--offline", "--dest", (dir / "out").string(), "imdb"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("already installed"), std::string::npos) << again.err;
}

TEST(FetchData, FolderMirrorIsCopiedNotMoved) {
  ScratchDir dir;
  make_imdb(dir / "src", {"train", "test"});
  const ProcessResult r = fetch({"--offline", "--dest", (dir / "out").string(), "--mirror",
                                 (dir / "src").string(), "imdb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(loraft::data::read_imdb(dir / "out" / "imdb", "train").size(), 4u);
  EXPECT_EQ(loraft::data::read_imdb(dir / "src", "train").size(), 4u);
}

TEST(FetchData, AgNewsFilesAreCheckedAgainstTheManifest) {
  ScratchDir dir;
  write_text(dir / "ag" / "train.csv", "\"3\",\"Title\",\"Text, with \"\"quotes\"\"\"\n");
  write_text(dir / "ag" / "test.csv", "\"1\",\"T\",\"D\"\n");
  const std::string out = (dir / "out").string();
  // Not the official files: refused.
  ProcessResult r = fetch({"--offline", "--dest", out, "--mirror", (dir / "ag").string(), "ag_news"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("train.csv: sha256"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out" / "ag_news"));
  // Accepted on request; classes.txt and readme.txt come from the repository.
  r = fetch({"--offline", "--dest", out, "--mirror", (dir / "ag").string(), "--no-verify", "ag_news"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("classes.txt: checksum ok"), std::string::npos) << r.err;
  const auto train = loraft::data::read_ag_news_csv(dir / "out" / "ag_news" / "train.csv");
  EXPECT_EQ(train.texts, (std::vector<std::string>{"Title Text, with \"quotes\""}));
  EXPECT_EQ(train.label_names[3], "Sci/Tech");
}

TEST(FetchData, OfflineWithoutMirrorAndUsage) {
  ScratchDir dir;
  ProcessResult r = fetch({"--offline", "--dest", (dir / "out").string(), "imdb"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--offline"), std::string::npos) << r.err;
  r = fetch({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--dest", "--mirror", "--mirror-sha256", "--no-verify", "--offline",
                           "--manifest", "--force"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  EXPECT_EQ(fetch({"--nonsense"}).exit_code, 2);
  EXPECT_EQ(fetch({"--offline", "--dest", (dir / "out").string(), "--mirror", (dir / "absent").string()}).exit_code, 1);
}
