// The IMDB and AG News readers on the shipped samples (counts from data/samples/*/PROVENANCE.md)
// and on small hand-made inputs for every error they report.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "loraft/core/error.h"
#include "loraft/core/hash.h"
#include "loraft/data/ag_news.h"
#include "loraft/data/imdb.h"
#include "loraft/data/table.h"
#include "loraft/io/file.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using loraft::FormatError;
using loraft::IoError;
using loraft::data::Dataset;
using loraft::testing::data_file;
using loraft::testing::ScratchDir;
using loraft::testing::write_text;

namespace {

// The file with the smallest numeric id in an aclImdb label folder.
fs::path first_review(const fs::path& folder) {
  fs::path best;
  long long best_id = -1;
  for (const auto& e : fs::directory_iterator(folder)) {
    const std::string name = e.path().filename().string();
    const long long id = std::stoll(name.substr(0, name.find('_')));
    if (best_id < 0 || id < best_id) {
      best_id = id;
      best = e.path();
    }
  }
  return best;
}

// Copies the sample IMDB tree (only the parts a test needs) into `to`.
void copy_imdb(const fs::path& to) {
  fs::copy(data_file("samples/imdb/train"), to / "train", fs::copy_options::recursive);
  fs::copy(data_file("samples/imdb/test"), to / "test", fs::copy_options::recursive);
}

// sha256 over (text, label) pairs as length-prefixed fields: compared with the value the
// Hugging Face ag_news script's own code gives for the same file (see AgNews.TextsEqualHf).
std::string texts_and_labels_sha256(const Dataset& d) {
  loraft::Sha256 sha;
  for (std::size_t i = 0; i < d.size(); ++i) {
    sha.update_field(d.texts[i]);
    sha.update_field(std::to_string(d.labels[i]));
  }
  return sha.hex();
}

template <typename F>
std::string error_where(F&& f) {
  try {
    f();
  } catch (const loraft::Error& e) {
    return e.where() + " | " + e.what();
  }
  return "no error";
}

}  // namespace

// ---- IMDB -------------------------------------------------------------------------------

TEST(Imdb, SampleCountsLabelsAndOrder) {
  const Dataset train = loraft::data::read_imdb(data_file("samples/imdb"), "train");
  ASSERT_EQ(train.size(), 2000u);
  EXPECT_EQ(train.name, "imdb/train");
  EXPECT_EQ(train.label_names, (std::vector<std::string>{"neg", "pos"}));
  EXPECT_EQ(train.label_counts(), (std::vector<std::int64_t>{1000, 1000}));
  // HF's order: every neg before every pos; by id inside a label.
  for (std::size_t i = 0; i < 1000; ++i) EXPECT_EQ(train.labels[i], 0) << i;
  for (std::size_t i = 1000; i < 2000; ++i) EXPECT_EQ(train.labels[i], 1) << i;
  for (std::size_t i = 1; i < 2000; ++i)
    if (train.labels[i] == train.labels[i - 1]) {
      EXPECT_LT(train.meta[i - 1].id, train.meta[i].id);
    }

  const Dataset test = loraft::data::read_imdb(data_file("samples/imdb"), "test");
  ASSERT_EQ(test.size(), 1000u);
  EXPECT_EQ(test.label_counts(), (std::vector<std::int64_t>{500, 500}));
  EXPECT_EQ(test.sources.size(), 1000u);
  EXPECT_EQ(test.source_sha256.size(), 64u);
  EXPECT_NE(test.source_sha256, train.source_sha256);
}

TEST(Imdb, RatingsMatchProvenance) {
  // PROVENANCE.md: train pos 7/8/9/10 = 182/263/186/369, neg 1/2/3/4 = 437/195/183/185;
  // test pos 87/98/109/206, neg 191/89/115/105.
  auto ratings = [](const Dataset& d, std::int64_t label) {
    std::map<int, int> m;
    for (std::size_t i = 0; i < d.size(); ++i)
      if (d.labels[i] == label) ++m[d.meta[i].rating];
    return m;
  };
  const Dataset train = loraft::data::read_imdb(data_file("samples/imdb"), "train");
  EXPECT_EQ(ratings(train, 1), (std::map<int, int>{{7, 182}, {8, 263}, {9, 186}, {10, 369}}));
  EXPECT_EQ(ratings(train, 0), (std::map<int, int>{{1, 437}, {2, 195}, {3, 183}, {4, 185}}));
  const Dataset test = loraft::data::read_imdb(data_file("samples/imdb"), "test");
  EXPECT_EQ(ratings(test, 1), (std::map<int, int>{{7, 87}, {8, 98}, {9, 109}, {10, 206}}));
  EXPECT_EQ(ratings(test, 0), (std::map<int, int>{{1, 191}, {2, 89}, {3, 115}, {4, 105}}));
}

TEST(Imdb, TextsAreTheFilesBytes) {
  const fs::path root = data_file("samples/imdb");
  const Dataset train = loraft::data::read_imdb(root, "train");
  const fs::path first_neg = first_review(root / "train" / "neg");
  EXPECT_EQ(train.texts[0], loraft::io::read_file(first_neg));
  EXPECT_EQ(train.meta[0].origin, "train/neg/" + first_neg.filename().string());
  EXPECT_EQ(train.sources[0], first_neg);
  const fs::path first_pos = first_review(root / "train" / "pos");
  EXPECT_EQ(train.texts[1000], loraft::io::read_file(first_pos));

  const Dataset test = loraft::data::read_imdb(root, "test");
  const fs::path first_test = first_review(root / "test" / "neg");
  EXPECT_EQ(test.texts[0], loraft::io::read_file(first_test));
  const std::string name = first_test.filename().string();
  EXPECT_EQ(test.meta[0].origin, "test/neg/" + name);
  EXPECT_EQ(std::to_string(test.meta[0].id), name.substr(0, name.find('_')));
  EXPECT_EQ(std::to_string(test.meta[0].rating) + ".txt", name.substr(name.find('_') + 1));

  // <br /> markup kept (1773 of the 3000 reviews), non-ASCII kept as UTF-8 (280).
  std::size_t br = 0, non_ascii = 0;
  for (const Dataset* d : {&train, &test})
    for (const auto& t : d->texts) {
      br += t.find("<br /><br />") != std::string::npos;
      non_ascii += std::any_of(t.begin(), t.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    }
  EXPECT_EQ(br, 1773u);
  EXPECT_EQ(non_ascii, 280u);
}

TEST(Imdb, SourceKeyFollowsBytesNotLocation) {
  ScratchDir a, b;
  copy_imdb(a.path());
  fs::create_directories(b / "aclImdb");
  copy_imdb(b / "aclImdb");
  const Dataset original = loraft::data::read_imdb(data_file("samples/imdb"), "test");
  const Dataset copy = loraft::data::read_imdb(a.path(), "test");
  // The parent of aclImdb/ works as root too.
  const Dataset nested = loraft::data::read_imdb(b.path(), "test");
  EXPECT_EQ(copy.source_sha256, original.source_sha256);
  EXPECT_EQ(nested.source_sha256, original.source_sha256);
  EXPECT_EQ(nested.texts, original.texts);

  // One changed byte changes the key; so does a renamed file.
  const fs::path victim = first_review(a / "test" / "pos");
  std::string bytes = loraft::io::read_file(victim);
  bytes[0] = bytes[0] == 'x' ? 'y' : 'x';
  write_text(victim, bytes);
  EXPECT_NE(loraft::data::read_imdb(a.path(), "test").source_sha256, original.source_sha256);
  const fs::path other = first_review(b / "aclImdb" / "test" / "neg");
  fs::rename(other, other.parent_path() / ("99999_" + other.filename().string().substr(other.filename().string().find('_') + 1)));
  EXPECT_NE(loraft::data::read_imdb(b.path(), "test").source_sha256, original.source_sha256);
}

TEST(Imdb, Errors) {
  ScratchDir dir;
  EXPECT_THROW(loraft::data::read_imdb(dir / "nowhere", "train"), IoError);
  EXPECT_THROW(loraft::data::read_imdb(dir.path(), "train"), IoError);  // no train/
  fs::create_directories(dir / "train" / "pos");
  EXPECT_THROW(loraft::data::read_imdb(dir.path(), "train"), IoError);  // no train/neg
  fs::create_directories(dir / "train" / "neg");
  write_text(dir / "train" / "pos" / "0_9.txt", "good");
  // An empty label folder is an empty split.
  try {
    loraft::data::read_imdb(dir.path(), "train");
    FAIL() << "no error for an empty split";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("empty split"), std::string::npos) << e.what();
    EXPECT_NE(e.where().find("neg"), std::string::npos);
  }
  write_text(dir / "train" / "neg" / "3_2.txt", "bad");
  write_text(dir / "train" / "neg" / ".hidden", "ignored");
  write_text(dir / "train" / "neg" / "notes.md", "ignored");
  const Dataset ok = loraft::data::read_imdb(dir.path(), "train");
  EXPECT_EQ(ok.texts, (std::vector<std::string>{"bad", "good"}));
  EXPECT_EQ(ok.labels, (std::vector<std::int64_t>{0, 1}));

  write_text(dir / "train" / "neg" / "review.txt", "x");
  EXPECT_THROW(loraft::data::read_imdb(dir.path(), "train"), FormatError);
  fs::remove(dir / "train" / "neg" / "review.txt");
  write_text(dir / "train" / "neg" / "4_11.txt", "x");
  EXPECT_THROW(loraft::data::read_imdb(dir.path(), "train"), FormatError);  // rating > 10
  fs::remove(dir / "train" / "neg" / "4_11.txt");

  // Invalid UTF-8: names the file, the line and the byte offset.
  write_text(dir / "train" / "pos" / "5_8.txt", std::string("fine\nstill fine \xC3\x28 bad"));
  const std::string where = error_where([&] { loraft::data::read_imdb(dir.path(), "train"); });
  EXPECT_NE(where.find("5_8.txt:2"), std::string::npos) << where;
  EXPECT_NE(where.find("byte 16"), std::string::npos) << where;
  EXPECT_THROW(loraft::data::read_imdb(dir.path(), "../x"), loraft::ConfigError);
}

// ---- AG News ----------------------------------------------------------------------------

TEST(AgNews, SampleCountsAndLabels) {
  const Dataset train = loraft::data::read_ag_news_csv(data_file("samples/ag_news/train.csv"));
  ASSERT_EQ(train.size(), 2000u);
  EXPECT_EQ(train.name, "ag_news/train");
  EXPECT_EQ(train.label_names, (std::vector<std::string>{"World", "Sports", "Business", "Sci/Tech"}));
  EXPECT_EQ(train.label_counts(), (std::vector<std::int64_t>{477, 338, 408, 777}));
  // The CSV and classes.txt are the sources.
  ASSERT_EQ(train.sources.size(), 2u);
  EXPECT_EQ(train.sources[1].filename(), "classes.txt");

  const Dataset test = loraft::data::read_ag_news_csv(data_file("samples/ag_news/test.csv"));
  ASSERT_EQ(test.size(), 1000u);
  EXPECT_EQ(test.label_counts(), (std::vector<std::int64_t>{250, 250, 250, 250}));
}

TEST(AgNews, TextsEqualHf) {
  const Dataset train = loraft::data::read_ag_news_csv(data_file("samples/ag_news/train.csv"));
  // HF ag_news train[0]: title + " " + description, the backslash artefact kept.
  EXPECT_EQ(train.texts[0],
            "Wall St. Bears Claw Back Into the Black (Reuters) Reuters - Short-sellers, Wall "
            "Street's dwindling\\band of ultra-cynics, are seeing green again.");
  EXPECT_EQ(train.labels[0], 2);
  EXPECT_EQ(train.meta[0].origin, "train.csv:1");
  // Row 9 has a quoted field with "" escapes.
  EXPECT_NE(train.texts[8].find("at 32, \"buying insurance was"), std::string::npos);
  std::size_t backslashes = 0, quotes = 0;
  for (const auto& t : train.texts) {
    backslashes += t.find('\\') != std::string::npos;
    quotes += t.find('"') != std::string::npos;
  }
  EXPECT_EQ(backslashes, 282u);  // PROVENANCE.md: 282 train rows contain a backslash
  EXPECT_EQ(quotes, 145u);       // ... and 145 contain ""

  // Every text and label, against the values of HF's own _generate_examples code
  // (csv.reader(quotechar='"', delimiter=",", quoting=csv.QUOTE_ALL, skipinitialspace=True),
  // " ".join((title, description)), int(label) - 1) run on the same files with CPython 3.
  EXPECT_EQ(texts_and_labels_sha256(train),
            "779f5baa13590e0130419bca30339a49111c0c4f88f760c303ed4162efcebdc1");
  const Dataset test = loraft::data::read_ag_news_csv(data_file("samples/ag_news/test.csv"));
  EXPECT_EQ(texts_and_labels_sha256(test),
            "8d57bb45b82ef463e9770fc21bb6fc1f3bbf751a2ccccc3a7cbf4e3384da9613");
}

TEST(AgNews, GenericTableReadsTheSameRows) {
  loraft::data::TableOptions o;
  o.header = false;
  o.text_columns = {"1", "2"};
  o.label_column = "0";
  o.label_offset = 1;
  o.label_names = {"World", "Sports", "Business", "Sci/Tech"};
  const Dataset a = loraft::data::read_table(data_file("samples/ag_news/test.csv"), o);
  const Dataset b = loraft::data::read_ag_news_csv(data_file("samples/ag_news/test.csv"));
  EXPECT_EQ(a.texts, b.texts);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.label_names, b.label_names);
}

TEST(AgNews, QuotingAndLineEnds) {
  ScratchDir dir;
  write_text(dir / "t.csv",
             "\"2\",\"He said \"\"hi\"\", then left\",\"a, b\"\n"
             "\"1\", \"spaced\",\"multi\nline\"\r\n"
             "\"4\",\"\",\"\"");
  const Dataset d = loraft::data::read_ag_news_csv(dir / "t.csv");
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d.texts[0], "He said \"hi\", then left a, b");
  EXPECT_EQ(d.labels[0], 1);
  EXPECT_EQ(d.texts[1], "spaced multi\nline");  // skipinitialspace; CRLF ends the record
  EXPECT_EQ(d.meta[1].origin, "t.csv:2");
  EXPECT_EQ(d.texts[2], " ");
  EXPECT_EQ(d.meta[2].origin, "t.csv:4");
  // No classes.txt: HF's names.
  EXPECT_EQ(d.label_names, (std::vector<std::string>{"World", "Sports", "Business", "Sci/Tech"}));
  EXPECT_EQ(d.sources.size(), 1u);
}

TEST(AgNews, Errors) {
  ScratchDir dir;
  auto where = [&](const std::string& csv) {
    write_text(dir / "bad.csv", csv);
    return error_where([&] { loraft::data::read_ag_news_csv(dir / "bad.csv"); });
  };
  const std::string f = (dir / "bad.csv").string();
  EXPECT_EQ(where("\"1\",\"a\",\"b\"\n\"2\",\"unterminated,\"x\n\"3\",\"c\",\"d\"\n").rfind(f + ":2 | ", 0), 0u);
  EXPECT_NE(where("\"1\",\"a\",\"b\"\n\"2\",\"open\n").find("unterminated quoted field"), std::string::npos);
  EXPECT_EQ(where("\"1\",\"a\",\"b\"\n\"1\",\"a\"\n").rfind(f + ":2 | ", 0), 0u);  // 2 fields
  EXPECT_NE(where("\"1\",\"a\",\"b\",\"c\"\n").find("4 fields"), std::string::npos);
  EXPECT_NE(where("\"1\",\"a\",\"b\"\n\n\"1\",\"a\",\"b\"\n").find(":2 | "), std::string::npos);  // empty line
  EXPECT_NE(where("\"5\",\"a\",\"b\"\n").find("class 5 out of range"), std::string::npos);
  EXPECT_NE(where("\"0\",\"a\",\"b\"\n").find("out of range"), std::string::npos);
  EXPECT_NE(where("\"x\",\"a\",\"b\"\n").find("not an integer"), std::string::npos);
  EXPECT_NE(where("\"1\",\"a\"b,\"c\"\n").find("after a closing quote"), std::string::npos);
  const std::string utf8 = where("\"1\",\"a\",\"b\"\n\"1\",\"\xFF\",\"b\"\n");
  EXPECT_EQ(utf8.rfind(f + ":2 | ", 0), 0u) << utf8;
  EXPECT_NE(utf8.find("invalid UTF-8 at byte 17"), std::string::npos) << utf8;
  EXPECT_NE(where("").find("empty split"), std::string::npos);
  EXPECT_THROW(loraft::data::read_ag_news_csv(dir / "missing.csv"), IoError);

  // classes.txt decides the number of classes.
  write_text(dir / "classes.txt", "A\nB\n");
  EXPECT_NE(where("\"3\",\"a\",\"b\"\n").find("class 3 out of range"), std::string::npos);
  write_text(dir / "bad.csv", "\"2\",\"a\",\"b\"\n");
  const Dataset d = loraft::data::read_ag_news_csv(dir / "bad.csv");
  EXPECT_EQ(d.label_names, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(d.labels, (std::vector<std::int64_t>{1}));
}
