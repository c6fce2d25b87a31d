// The CSV record parser and the generic CSV/TSV/JSON-lines reader.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "loraft/core/error.h"
#include "loraft/data/csv.h"
#include "loraft/data/table.h"
#include "support/test_support.h"

using loraft::ConfigError;
using loraft::FormatError;
using loraft::data::CsvOptions;
using loraft::data::CsvParser;
using loraft::data::CsvRecord;
using loraft::data::Dataset;
using loraft::data::TableFormat;
using loraft::data::TableOptions;
using loraft::testing::read_text;
using loraft::testing::ScratchDir;
using loraft::testing::source_dir;
using loraft::testing::write_text;

namespace {

std::vector<CsvRecord> parse(const std::string& bytes, CsvOptions o = {}) {
  CsvParser p(bytes, "in.csv", o);
  std::vector<CsvRecord> out;
  CsvRecord r;
  while (p.next(r)) out.push_back(r);
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const loraft::Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(Csv, Rfc4180) {
  auto r = parse("a,\"b,c\",\"d\"\"e\"\n\"multi\nline\",,\r\nlast,\"\",x");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].fields, (std::vector<std::string>{"a", "b,c", "d\"e"}));
  EXPECT_EQ(r[0].line, 1);
  EXPECT_EQ(r[1].fields, (std::vector<std::string>{"multi\nline", "", ""}));
  EXPECT_EQ(r[1].line, 2);
  EXPECT_EQ(r[2].fields, (std::vector<std::string>{"last", "", "x"}));
  EXPECT_EQ(r[2].line, 4);
}

TEST(Csv, EdgeCases) {
  EXPECT_TRUE(parse("").empty());
  auto r = parse("\n\na\n");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(r[0].fields.empty());
  EXPECT_EQ(r[2].fields, (std::vector<std::string>{"a"}));
  EXPECT_EQ(r[2].line, 3);
  EXPECT_EQ(parse("a,")[0].fields, (std::vector<std::string>{"a", ""}));
  EXPECT_EQ(parse("\"a\",")[0].fields, (std::vector<std::string>{"a", ""}));
  EXPECT_EQ(parse("5 \"inch\"")[0].fields, (std::vector<std::string>{"5 \"inch\""}));
  CsvOptions tsv;
  tsv.delimiter = '\t';
  tsv.quoting = false;
  EXPECT_EQ(parse("\"a\tb\"\tc", tsv)[0].fields, (std::vector<std::string>{"\"a", "b\"", "c"}));
  CsvOptions skip;
  skip.skip_initial_space = true;
  EXPECT_EQ(parse("  a,  \"b\", c ", skip)[0].fields, (std::vector<std::string>{"a", "b", "c "}));
}

TEST(Csv, Errors) {
  try {
    parse("ok\n\"never\nclosed");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_EQ(e.where(), "in.csv:2");
    EXPECT_NE(std::string(e.what()).find("unterminated quoted field"), std::string::npos);
  }
  try {
    parse("\"a\"x,b");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_EQ(e.where(), "in.csv:1");
  }
}

TEST(Table, CsvWithHeaderAndNames) {
  ScratchDir dir;
  write_text(dir / "d.csv",
             "\xEF\xBB\xBFid,title,body,sentiment\n"
             "1,\"A, title\",\"body \"\"one\"\"\",pos\n"
             "\n"
             "2,B,two,neg\n"
             "3,C,three,1\n");
  TableOptions o;
  o.text_columns = {"title", "body"};
  o.label_column = "sentiment";
  o.label_names = {"neg", "pos"};
  const Dataset d = loraft::data::read_table(dir / "d.csv", o);
  EXPECT_EQ(d.texts, (std::vector<std::string>{"A, title body \"one\"", "B two", "C three"}));
  EXPECT_EQ(d.labels, (std::vector<std::int64_t>{1, 0, 1}));
  EXPECT_EQ(d.label_names, o.label_names);
  EXPECT_EQ(d.meta[1].origin, "d.csv:4");
  EXPECT_EQ(d.name, "d");
  EXPECT_EQ(d.source_sha256.size(), 64u);

  o.text_columns = {"nope"};
  EXPECT_NE(error_of([&] { loraft::data::read_table(dir / "d.csv", o); }).find("no column 'nope'"),
            std::string::npos);
  o.text_columns = {"title"};
  o.label_names = {"neg"};
  EXPECT_NE(error_of([&] { loraft::data::read_table(dir / "d.csv", o); }).find("unknown label 'pos'"),
            std::string::npos);
}

TEST(Table, TsvWithoutHeaderIntegerLabels) {
  ScratchDir dir;
  write_text(dir / "d.tsv", "say \"hi\"\t0\nbye\t2\n");
  TableOptions o;
  o.header = false;
  o.text_columns = {"0"};
  o.label_column = "1";
  const Dataset d = loraft::data::read_table(dir / "d.tsv", o);
  EXPECT_EQ(d.texts, (std::vector<std::string>{"say \"hi\"", "bye"}));
  EXPECT_EQ(d.labels, (std::vector<std::int64_t>{0, 2}));
  EXPECT_EQ(d.label_names, (std::vector<std::string>{"0", "1", "2"}));

  o.num_labels = 2;
  const std::string e = error_of([&] { loraft::data::read_table(dir / "d.tsv", o); });
  EXPECT_NE(e.find(":2: label 2 out of range"), std::string::npos) << e;
  write_text(dir / "d.tsv", "a\t0\nb\tx\n");
  EXPECT_NE(error_of([&] { loraft::data::read_table(dir / "d.tsv", o); }).find("label 'x' is not an integer"),
            std::string::npos);
  write_text(dir / "d.tsv", "a\t0\nb\n");
  EXPECT_NE(error_of([&] { loraft::data::read_table(dir / "d.tsv", o); }).find(":2: 1 fields instead of 2"),
            std::string::npos);
}

TEST(Table, JsonLines) {
  ScratchDir dir;
  write_text(dir / "d.jsonl",
             "{\"text\": \"caf\\u00e9 \\\"ok\\\"\", \"label\": 1}\n"
             "\n"
             "{\"text\": \"two\", \"label\": \"neg\", \"extra\": [1]}\r\n");
  TableOptions o;
  o.label_names = {"neg", "pos"};
  const Dataset d = loraft::data::read_table(dir / "d.jsonl", o);
  EXPECT_EQ(d.texts, (std::vector<std::string>{"caf\xC3\xA9 \"ok\"", "two"}));
  EXPECT_EQ(d.labels, (std::vector<std::int64_t>{1, 0}));
  EXPECT_EQ(d.meta[1].origin, "d.jsonl:3");

  auto err = [&](const std::string& content) {
    write_text(dir / "e.jsonl", content);
    return error_of([&] { loraft::data::read_table(dir / "e.jsonl", o); });
  };
  EXPECT_NE(err("{\"text\": \"a\", \"label\": 0}\n{broken\n").find("e.jsonl:2: malformed JSON"), std::string::npos);
  EXPECT_NE(err("[1]\n").find("not a JSON object"), std::string::npos);
  EXPECT_NE(err("{\"label\": 0}\n").find("missing key 'text'"), std::string::npos);
  EXPECT_NE(err("{\"text\": 3, \"label\": 0}\n").find("'text' is not a string"), std::string::npos);
  EXPECT_NE(err("{\"text\": \"a\", \"label\": 2}\n").find("label 2 out of range"), std::string::npos);
  EXPECT_NE(err("{\"text\": \"a\", \"label\": 1.5}\n").find("neither an integer nor a string"), std::string::npos);
  EXPECT_NE(err("{\"text\": \"a\", \"label\": 0}\n{\"text\": \"\xC3\", \"label\": 0}\n").find("e.jsonl:2: invalid UTF-8 at byte 36"),
            std::string::npos);

  // Unlabelled data.
  TableOptions u;
  u.label_column.clear();
  write_text(dir / "u.jsonl", "{\"text\": \"x\"}\n");
  const Dataset ud = loraft::data::read_table(dir / "u.jsonl", u);
  EXPECT_EQ(ud.labels, (std::vector<std::int64_t>{-1}));

  // Classes inferred from the ids: a stray huge id is an error, not a billion classes.
  TableOptions inferred;
  write_text(dir / "big.jsonl", "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": 1000000000}\n");
  const std::string big = error_of([&] { loraft::data::read_table(dir / "big.jsonl", inferred); });
  EXPECT_NE(big.find("big.jsonl:2: label 1000000000 out of range"), std::string::npos) << big;
  EXPECT_NE(big.find("from 0 to 99999"), std::string::npos) << big;
  write_text(dir / "wide.jsonl", "{\"text\": \"a\", \"label\": 99999}\n");
  EXPECT_EQ(loraft::data::read_table(dir / "wide.jsonl", inferred).label_names.size(), 100000u);
  inferred.num_labels = 1000000001;
  EXPECT_THROW(loraft::data::read_table(dir / "wide.jsonl", inferred), ConfigError);
}

// Found by the table fuzz target (tests/fuzz/regressions/table/label-int64-min, whose last byte
// chose JSON lines and columns by index with label_offset 1): the label -9223372036854775808
// minus the offset overflowed int64, undefined behaviour. Now it is out of range.
TEST(Table, LabelsAtTheInt64LimitsAreOutOfRange) {
  ScratchDir dir;
  const std::string input = read_text(source_dir() / "tests/fuzz/regressions/table/label-int64-min");
  write_text(dir / "l.jsonl", input.substr(0, input.size() - 1));  // without the options byte
  TableOptions o;
  o.text_columns = {"1", "2"};
  o.label_column = "0";
  o.label_offset = 1;
  const std::string err = error_of([&] { loraft::data::read_table(dir / "l.jsonl", o); });
  EXPECT_NE(err.find("l.jsonl:1: label -9223372036854775808 out of range"), std::string::npos) << err;
  o.label_offset = -1;
  write_text(dir / "h.jsonl", "{\"1\": \"a\", \"2\": \"b\", \"0\": 9223372036854775807}\n");
  EXPECT_NE(error_of([&] { loraft::data::read_table(dir / "h.jsonl", o); }).find("out of range"), std::string::npos);
}

TEST(Table, FormatAndOptionErrors) {
  EXPECT_EQ(loraft::data::table_format_for("a/b.CSV"), TableFormat::csv);
  EXPECT_EQ(loraft::data::table_format_for("b.ndjson"), TableFormat::jsonl);
  EXPECT_THROW(loraft::data::table_format_for("b.parquet"), ConfigError);
  EXPECT_EQ(loraft::data::parse_table_format("tsv"), TableFormat::tsv);
  EXPECT_THROW(loraft::data::parse_table_format("xls"), ConfigError);
  ScratchDir dir;
  write_text(dir / "h.csv", "text,label\n");
  EXPECT_NE(error_of([&] { loraft::data::read_table(dir / "h.csv"); }).find("empty split"), std::string::npos);
  TableOptions o;
  o.num_labels = 3;
  o.label_names = {"a", "b"};
  write_text(dir / "h.csv", "text,label\nx,a\n");
  EXPECT_THROW(loraft::data::read_table(dir / "h.csv", o), ConfigError);
  EXPECT_THROW(loraft::data::read_table(dir / "missing.csv"), loraft::IoError);
}
