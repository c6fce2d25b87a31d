// The HDF5 token cache: hits reuse the file without encoding, every input of the key causes a
// miss, damaged or foreign files are rebuilt with a warning, and the ids equal direct encoding.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "loraft/core/error.h"
#include "loraft/data/ag_news.h"
#include "loraft/data/token_cache.h"
#include "loraft/io/file.h"
#include "loraft/io/hdf5.h"
#include "loraft/text/bert_tokenizer.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using loraft::data::Dataset;
using loraft::data::TokenCacheOptions;
using loraft::data::TokenCacheResult;
using loraft::testing::data_file;
using loraft::testing::ScratchDir;
using loraft::testing::write_text;

namespace {

const fs::path kVocab = data_file("vocab/bert-base-uncased/vocab.txt");

const loraft::text::BertTokenizer& tokenizer() {
  static const auto t = loraft::text::BertTokenizer::from_file(kVocab);
  return t;
}

// Counts the texts it encodes, so that a test sees whether a call tokenised anything.
class CountingEncoder : public loraft::data::TextEncoder {
 public:
  explicit CountingEncoder(const loraft::text::BertTokenizer& t) : inner_(t) {}
  std::string fingerprint() const override { return inner_.fingerprint(); }
  std::vector<std::int32_t> encode(std::string_view text, int max_length,
                                   bool truncation) const override {
    ++calls;
    return inner_.encode(text, max_length, truncation);
  }
  mutable std::atomic<long> calls{0};

 private:
  loraft::data::BertTextEncoder inner_;
};

// The first `n` rows of the AG News test sample (a real data set, small enough to be quick).
Dataset sample(std::size_t n = 200, const fs::path& csv = data_file("samples/ag_news/test.csv")) {
  Dataset d = loraft::data::read_ag_news_csv(csv);
  d.texts.resize(n);
  d.labels.resize(n);
  d.meta.resize(n);
  return d;
}

TokenCacheOptions options_in(const ScratchDir& dir, int max_length = 64) {
  TokenCacheOptions o;
  o.folder = dir / "cache";
  o.max_length = max_length;
  o.progress = false;
  o.threads = 2;
  return o;
}

struct FileId {
  ino_t inode;
  long long mtime_ns;
  bool operator==(const FileId& o) const { return inode == o.inode && mtime_ns == o.mtime_ns; }
};
FileId file_id(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return {st.st_ino, static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec};
}

void expect_same_rows(const loraft::data::TokenRows& a, const loraft::data::TokenRows& b) {
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.offsets, b.offsets);
  EXPECT_EQ(a.labels, b.labels);
}

// Runs load_or_build and returns what it printed on stderr.
std::string build_capturing(const Dataset& d, const CountingEncoder& enc,
                            const TokenCacheOptions& o, TokenCacheResult& out) {
  ::testing::internal::CaptureStderr();
  out = loraft::data::load_or_build(d, enc, o);
  return ::testing::internal::GetCapturedStderr();
}

std::size_t files_in(const fs::path& folder) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(folder)) n += e.is_regular_file();
  return n;
}

}  // namespace

TEST(TokenCache, TokensEqualDirectEncoding) {
  ScratchDir dir;
  const Dataset d = sample();
  CountingEncoder enc(tokenizer());
  const TokenCacheResult r = loraft::data::load_or_build(d, enc, options_in(dir));
  ASSERT_EQ(r.rows.size(), 200);
  EXPECT_EQ(r.rows.labels, d.labels);
  for (std::size_t i = 0; i < d.size(); ++i) {
    const auto direct =
        tokenizer().encode(d.texts[i], 64, true, loraft::text::Padding::none).input_ids;
    const auto& ids = r.rows.ids;
    const std::vector<std::int32_t> cached(ids.begin() + r.rows.offsets[i], ids.begin() + r.rows.offsets[i + 1]);
    ASSERT_EQ(cached, direct) << "row " << i;
    EXPECT_EQ(cached.front(), tokenizer().cls_id());
    EXPECT_EQ(cached.back(), tokenizer().sep_id());
  }
  EXPECT_EQ(r.tokens(), static_cast<std::int64_t>(r.rows.ids.size()));
  // The thread count does not change the rows.
  const auto one = loraft::data::encode_dataset(d, enc, 64, true, 1);
  expect_same_rows(one, r.rows);
}

TEST(TokenCache, HitReusesTheFileWithoutEncoding) {
  ScratchDir dir;
  const Dataset d = sample();
  CountingEncoder enc(tokenizer());
  const auto o = options_in(dir);
  const TokenCacheResult first = loraft::data::load_or_build(d, enc, o);
  EXPECT_FALSE(first.hit);
  EXPECT_EQ(enc.calls.load(), 200);
  EXPECT_EQ(first.path, o.folder / (first.key + ".h5"));
  EXPECT_EQ(first.key, loraft::data::token_cache_key(d, enc.fingerprint(), o));
  const FileId before = file_id(first.path);

  TokenCacheResult second;
  const std::string err = build_capturing(d, enc, o, second);
  EXPECT_TRUE(second.hit);
  EXPECT_TRUE(second.rebuilt_because.empty());
  EXPECT_EQ(err, "");
  EXPECT_EQ(enc.calls.load(), 200) << "a hit must not tokenise";
  EXPECT_TRUE(file_id(first.path) == before) << "a hit must not rewrite the file";
  expect_same_rows(second.rows, first.rows);
  EXPECT_EQ(files_in(o.folder), 1u);

  // The file documents itself.
  const auto file = loraft::data::read_token_cache(first.path);
  EXPECT_EQ(file.key, first.key);
  EXPECT_EQ(file.format_version, loraft::data::kTokenCacheFormatVersion);
  EXPECT_EQ(file.tokenizer, tokenizer().fingerprint());
  EXPECT_EQ(file.max_length, 64);
  EXPECT_NE(file.source.find(d.source_sha256), std::string::npos);
  EXPECT_NE(file.source.find("ag_news/test"), std::string::npos);
}

TEST(TokenCache, MissWhenAnythingInTheKeyChanges) {
  ScratchDir dir;
  const auto o = options_in(dir);
  CountingEncoder enc(tokenizer());
  // A private copy of the data set's files, to change them.
  fs::create_directories(dir / "ag");
  fs::copy_file(data_file("samples/ag_news/test.csv"), dir / "ag" / "test.csv");
  fs::copy_file(data_file("samples/ag_news/classes.txt"), dir / "ag" / "classes.txt");
  const Dataset d = sample(100, dir / "ag" / "test.csv");
  const TokenCacheResult base = loraft::data::load_or_build(d, enc, o);
  EXPECT_FALSE(base.hit);

  // Changed source bytes (a row beyond the 100 used: same texts, different source key).
  std::string csv = loraft::io::read_file(dir / "ag" / "test.csv");
  const auto last = csv.rfind("\"1\",\"");
  ASSERT_NE(last, std::string::npos);
  csv[last + 5] = csv[last + 5] == 'Q' ? 'R' : 'Q';
  write_text(dir / "ag" / "test.csv", csv);
  const Dataset changed = sample(100, dir / "ag" / "test.csv");
  EXPECT_EQ(changed.texts, d.texts);
  EXPECT_NE(changed.source_sha256, d.source_sha256);
  const long calls = enc.calls.load();
  const TokenCacheResult r1 = loraft::data::load_or_build(changed, enc, o);
  EXPECT_FALSE(r1.hit);
  EXPECT_NE(r1.key, base.key);
  EXPECT_EQ(enc.calls.load(), calls + 100);

  // Changed texts with the same source key (an edited data set) miss too.
  Dataset edited = d;
  edited.texts[3] += " more";
  EXPECT_NE(loraft::data::load_or_build(edited, enc, o).key, base.key);

  // Another max length.
  const TokenCacheResult r2 = loraft::data::load_or_build(d, enc, options_in(dir, 32));
  EXPECT_FALSE(r2.hit);
  EXPECT_NE(r2.key, base.key);
  for (std::int64_t i = 0; i < r2.rows.size(); ++i) EXPECT_LE(r2.rows.length(i), 32);
  // No truncation.
  auto untruncated = o;
  untruncated.truncation = false;
  EXPECT_NE(loraft::data::load_or_build(d, enc, untruncated).key, base.key);

  // Another vocabulary (one more token at the end).
  write_text(dir / "vocab.txt", loraft::io::read_file(kVocab) + "loraftish\n");
  const auto other = loraft::text::BertTokenizer::from_file(dir / "vocab.txt");
  CountingEncoder other_enc(other);
  const TokenCacheResult r3 = loraft::data::load_or_build(d, other_enc, o);
  EXPECT_FALSE(r3.hit);
  EXPECT_NE(r3.key, base.key);
  EXPECT_EQ(other_enc.calls.load(), 100);

  // The original is still a hit.
  EXPECT_TRUE(loraft::data::load_or_build(d, enc, o).hit);
}

TEST(TokenCache, TruncatedFileIsRebuiltWithAWarning) {
  ScratchDir dir;
  const Dataset d = sample();
  CountingEncoder enc(tokenizer());
  const auto o = options_in(dir);
  const TokenCacheResult good = loraft::data::load_or_build(d, enc, o);
  const auto size = fs::file_size(good.path);
  fs::resize_file(good.path, size / 2);

  TokenCacheResult again;
  const std::string err = build_capturing(d, enc, o, again);
  EXPECT_FALSE(again.hit);
  EXPECT_FALSE(again.rebuilt_because.empty());
  EXPECT_NE(err.find("warning: token cache"), std::string::npos) << err;
  EXPECT_NE(err.find("rebuilding"), std::string::npos) << err;
  EXPECT_EQ(enc.calls.load(), 400);
  expect_same_rows(again.rows, good.rows);
  EXPECT_EQ(fs::file_size(good.path), size);
  EXPECT_TRUE(loraft::data::load_or_build(d, enc, o).hit);
  EXPECT_EQ(files_in(o.folder), 1u);  // no temporary files left
}

TEST(TokenCache, FlippedBytesAreDetectedAndRebuilt) {
  ScratchDir dir;
  const Dataset d = sample(1000);
  CountingEncoder enc(tokenizer());
  const auto o = options_in(dir);
  const TokenCacheResult good = loraft::data::load_or_build(d, enc, o);
  const std::string original = loraft::io::read_file(good.path);
  // Flip bytes at several places in the middle of the file (the id arrays live there).
  for (double where : {0.3, 0.5, 0.7}) {
    std::string bytes = original;
    const std::size_t at = static_cast<std::size_t>(where * static_cast<double>(bytes.size()));
    for (std::size_t k = 0; k < 4; ++k) bytes[at + k] = static_cast<char>(~bytes[at + k]);
    write_text(good.path, bytes);
    EXPECT_THROW(loraft::data::read_token_cache(good.path), loraft::Error) << where;
    TokenCacheResult again;
    const std::string err = build_capturing(d, enc, o, again);
    EXPECT_FALSE(again.hit) << where;
    EXPECT_NE(err.find("warning: token cache"), std::string::npos) << err;
    expect_same_rows(again.rows, good.rows);
    EXPECT_EQ(loraft::io::read_file(good.path).size(), original.size());
  }
}

TEST(TokenCache, ForeignAndInconsistentFilesAreNeverUsed) {
  ScratchDir dir;
  const Dataset d = sample(50);
  CountingEncoder enc(tokenizer());
  const auto o = options_in(dir);
  const TokenCacheResult good = loraft::data::load_or_build(d, enc, o);
  auto rebuilt = [&](const std::string& expect_in_reason) {
    TokenCacheResult r;
    const std::string err = build_capturing(d, enc, o, r);
    EXPECT_FALSE(r.hit) << expect_in_reason;
    EXPECT_NE(r.rebuilt_because.find(expect_in_reason), std::string::npos) << r.rebuilt_because;
    EXPECT_NE(err.find("warning"), std::string::npos);
    expect_same_rows(r.rows, good.rows);
  };
  namespace h5 = loraft::io::hdf5;

  // Not HDF5 at all.
  write_text(good.path, "not an HDF5 file, just text\n");
  rebuilt("not a sealed file");
  // An empty file.
  write_text(good.path, "");
  rebuilt("not a sealed file");

  // Well-formed HDF5 written by someone else: a different key attribute.
  auto file = loraft::data::read_token_cache(good.path);
  file.key = std::string(64, '0');
  loraft::data::write_token_cache(good.path, file);
  rebuilt("key attribute");

  // Other truncation settings recorded than the key says.
  file = loraft::data::read_token_cache(good.path);
  file.max_length = 128;
  loraft::data::write_token_cache(good.path, file);
  rebuilt("truncation settings");

  // Labels that disagree with the data set.
  file = loraft::data::read_token_cache(good.path);
  file.rows.labels[0] = (file.rows.labels[0] + 1) % 4;
  loraft::data::write_token_cache(good.path, file);
  rebuilt("labels differ");

  // A missing dataset, and a checksum attribute that does not match the arrays.
  auto write_raw = [&](bool with_ids, const std::string& checksum, std::int64_t version,
                       bool seal = true) {
    h5::FileOptions fo;
    fo.user_block = h5::kSealBytes;
    h5::Handle f = h5::create_file(good.path, fo);
    const auto& rows = good.rows;
    if (with_ids) h5::write_array(f, "input_ids", rows.ids.data(), rows.ids.size());
    h5::write_array(f, "offsets", rows.offsets.data(), rows.offsets.size());
    h5::write_array(f, "labels", rows.labels.data(), rows.labels.size());
    h5::write_attribute(f, "format", std::string("loraft.token_cache"));
    h5::write_attribute(f, "format_version", version);
    h5::write_attribute(f, "key", good.key);
    h5::write_attribute(f, "source", std::string("{}"));
    h5::write_attribute(f, "tokenizer", tokenizer().fingerprint());
    h5::write_attribute(f, "max_length", std::int64_t{64});
    h5::write_attribute(f, "truncation", std::int64_t{1});
    h5::write_attribute(f, "rows", rows.size());
    h5::write_attribute(f, "tokens", static_cast<std::int64_t>(rows.ids.size()));
    h5::write_attribute(f, "content_sha256", checksum);
    f.close();
    if (seal) h5::seal_file(good.path);
  };
  const std::string right = loraft::data::token_rows_sha256(good.rows);
  write_raw(true, right, 1, /*seal=*/false);
  rebuilt("not a sealed file");
  write_raw(false, right, 1);
  rebuilt("missing dataset");
  write_raw(true, std::string(64, 'f'), 1);
  rebuilt("content checksum mismatch");
  write_raw(true, right, 2);
  rebuilt("format version 2");
  // The hand-written file with everything right is accepted: the checks are not over-strict.
  write_raw(true, right, 1);
  TokenCacheResult r = loraft::data::load_or_build(d, enc, o);
  EXPECT_TRUE(r.hit);
}

TEST(TokenCache, BertTokenizerOverloadAndUnwritableFolder) {
  ScratchDir dir;
  const Dataset d = sample(20);
  auto o = options_in(dir);
  const TokenCacheResult r = loraft::data::load_or_build(d, tokenizer(), o);
  EXPECT_EQ(r.rows.size(), 20);
  EXPECT_TRUE(loraft::data::load_or_build(d, tokenizer(), o).hit);
  // A folder path that is a file cannot hold a cache: a clear error, not a crash.
  write_text(dir / "blocker", "x");
  o.folder = dir / "blocker";
  EXPECT_THROW(loraft::data::load_or_build(d, tokenizer(), o), loraft::IoError);
}

// Damage anywhere in the file, user block and padding included: every flipped byte is
// caught. Reading is tried for every byte; the full rebuild path for a sample of them.
TEST(TokenCache, EveryFlippedByteIsCaught) {
  ScratchDir dir;
  const Dataset d = sample(20);
  CountingEncoder enc(tokenizer());
  const auto o = options_in(dir);
  const TokenCacheResult good = loraft::data::load_or_build(d, enc, o);
  std::string original = loraft::io::read_file(good.path);
  for (std::size_t at = 0; at < original.size(); ++at) {
    // Patched in place: rewriting the whole file thousands of times is slow on ext4.
    const auto patch = [&](char c) {
      std::fstream f(good.path, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(at));
      f.put(c);
    };
    patch(static_cast<char>(original[at] ^ 0x10));
    EXPECT_THROW(loraft::data::read_token_cache(good.path), loraft::FormatError) << "byte " << at;
    if (at % 997 == 0) {
      TokenCacheResult r;
      build_capturing(d, enc, o, r);
      ASSERT_FALSE(r.hit) << "byte " << at;
      expect_same_rows(r.rows, good.rows);
      // Rebuilt byte for byte: the cache file is a function of its inputs.
      ASSERT_TRUE(loraft::io::read_file(good.path) == original);
    } else {
      patch(original[at]);
    }
  }
}
