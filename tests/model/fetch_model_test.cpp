// scripts/fetch-model.sh through its --mirror path, with the tiny fixture checkpoint standing
// in for distilbert-base-uncased (hashes from tests/fixtures/manifest.json).
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

#include "loraft/core/hash.h"
#include "loraft/io/file.h"
#include "loraft/io/json.h"
#include "loraft/model/pretrained.h"
#include "support/test_support.h"

namespace loraft::model {
namespace {
namespace fs = std::filesystem;

const std::string kModel = "distilbert-tiny-mlm";
const std::vector<std::string> kFiles = {"config.json", "vocab.txt", "model.safetensors"};

bool can_read_manifests() {
  return std::system("command -v jq >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1") == 0;
}

testing::ProcessResult fetch(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"bash", (testing::source_dir() / "scripts" / "fetch-model.sh").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::run_process(argv);
}

// A manifest with one entry, kModel, listing its files with the fixture manifest's hashes.
fs::path write_manifest(const testing::ScratchDir& dir, bool with_sha = true, std::int64_t size_delta = 0) {
  auto hashes = io::read_json(testing::fixture("manifest.json"))["sha256"];
  io::Json files = io::Json::array();
  for (const auto& f : kFiles) {
    io::Json entry = {{"name", f}, {"size", fs::file_size(testing::fixture(kModel + "/" + f)) + size_delta}};
    entry["sha256"] = with_sha ? hashes.at(kModel + "/" + f) : io::Json();
    files.push_back(entry);
  }
  io::Json manifest = {{kModel, {{"url_base", nullptr}, {"destination", nullptr}, {"files", files}}}};
  fs::path p = dir / "models.json";
  io::write_file_atomic(p, manifest.dump(2));
  return p;
}

std::size_t leftover_temporaries(const fs::path& folder) {
  std::size_t n = 0;
  if (!fs::exists(folder)) return 0;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) ++n;
  return n;
}

TEST(FetchModel, MirrorCopiesVerifiedFilesThatLoad) {
  if (!can_read_manifests()) GTEST_SKIP() << "needs jq or python3";
  testing::ScratchDir dir;
  fs::path manifest = write_manifest(dir);
  auto r = fetch({"--manifest", manifest.string(), "--model", kModel, "--mirror",
                  testing::fixture(kModel).string(), "--dest", (dir / "out").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const auto& f : kFiles)
    EXPECT_EQ(io::read_file(dir / "out" / f), io::read_file(testing::fixture(kModel + "/" + f))) << f;
  LoadReport report;
  load_masked_lm(dir / "out", {}, &report);
  EXPECT_TRUE(report.complete()) << report.summary();
  // Second run: everything is already there.
  r = fetch({"--manifest", manifest.string(), "--model", kModel, "--mirror", testing::fixture(kModel).string(),
             "--dest", (dir / "out").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("already present"), std::string::npos) << r.out;
}

TEST(FetchModel, CorruptMirrorFileIsNeverPutInPlace) {
  if (!can_read_manifests()) GTEST_SKIP() << "needs jq or python3";
  testing::ScratchDir dir;
  fs::path mirror = dir / "mirror";
  fs::create_directories(mirror);
  for (const auto& f : kFiles) fs::copy_file(testing::fixture(kModel + "/" + f), mirror / f);
  std::string bytes = io::read_file(mirror / "model.safetensors");
  bytes[bytes.size() - 1] ^= 0x01;
  io::write_file_atomic(mirror / "model.safetensors", bytes);
  auto r = fetch({"--manifest", write_manifest(dir).string(), "--model", kModel, "--mirror", mirror.string(),
                  "--dest", (dir / "out").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("model.safetensors: sha256"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out" / "model.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "out" / "config.json"));
  EXPECT_EQ(leftover_temporaries(dir / "out"), 0u);
}

TEST(FetchModel, SizeMismatchAndUnpinnedHashes) {
  if (!can_read_manifests()) GTEST_SKIP() << "needs jq or python3";
  testing::ScratchDir dir;
  auto r = fetch({"--manifest", write_manifest(dir, true, 1).string(), "--model", kModel, "--mirror",
                  testing::fixture(kModel).string(), "--dest", (dir / "a").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("the manifest expects"), std::string::npos) << r.err;
  // No sha256 yet: accepted, and the hash to pin is printed.
  r = fetch({"--manifest", write_manifest(dir, false).string(), "--model", kModel, "--mirror",
             testing::fixture(kModel).string(), "--dest", (dir / "b").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto hashes = io::read_json(testing::fixture("manifest.json"))["sha256"];
  EXPECT_NE(r.out.find(hashes.at(kModel + "/model.safetensors").get<std::string>()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pin it"), std::string::npos);
  // Unknown model name.
  r = fetch({"--manifest", write_manifest(dir).string(), "--model", "nope", "--mirror", testing::fixture(kModel).string()});
  EXPECT_NE(r.exit_code, 0);
}

TEST(FetchModel, ProjectManifestPinsEveryFile) {
  auto manifest = io::read_json(testing::source_dir() / "data" / "models.json");
  const auto& entry = manifest.at("distilbert-base-uncased");
  EXPECT_EQ(entry.at("url_base"), "https://huggingface.co/distilbert-base-uncased/resolve/main");
  std::vector<std::string> names;
  const std::regex hex64("[0-9a-f]{64}");
  for (const auto& f : entry.at("files")) {
    names.push_back(f.at("name"));
    EXPECT_TRUE(std::regex_match(f.at("sha256").get<std::string>(), hex64)) << f.dump();
  }
  EXPECT_EQ(names, kFiles);
  // vocab.txt is the bert-base-uncased vocabulary the project ships: same hash.
  for (const auto& f : entry.at("files"))
    if (f.at("name") == "vocab.txt") {
      auto shipped = testing::data_file("vocab/bert-base-uncased/vocab.txt");
      EXPECT_EQ(f.at("size").get<std::uintmax_t>(), fs::file_size(shipped));
      EXPECT_EQ(f.at("sha256").get<std::string>(), sha256_file(shipped));
    }
}

}  // namespace
}  // namespace loraft::model
