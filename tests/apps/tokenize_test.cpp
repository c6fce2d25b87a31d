// loraft-tokenize, run as a program: its output must equal the Hugging Face fixtures, and a
// bad input line must stop it with exit status 2 and a message naming stdin:<line>.

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "loraft/io/json.h"
#include "support/test_support.h"

namespace loraft {
namespace {

using io::Json;

struct Case {
  std::string text;
  Json input_ids, attention_mask;
};

// Every `stride`-th case of a fixture file, plus the first one.
std::vector<Case> cases(const std::string& fixture, std::size_t stride) {
  std::vector<Case> out;
  std::size_t i = 0;
  io::for_each_json_line(testing::fixture(fixture), [&](const Json& c, long long) {
    if (i++ % stride == 0)
      out.push_back({c.at("text").get<std::string>(), c.at("input_ids"), c.at("attention_mask")});
  });
  return out;
}

std::string stdin_for(const std::vector<Case>& cs) {
  std::string in;
  for (const auto& c : cs) in += Json{{"text", c.text}}.dump() + "\n";
  return in;
}

std::vector<Json> json_lines(const std::string& out) {
  std::vector<Json> lines;
  std::istringstream is(out);
  std::string line;
  while (std::getline(is, line)) lines.push_back(Json::parse(line));
  return lines;
}

void expect_matches(const std::vector<Case>& cs, const testing::ProcessResult& r) {
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto got = json_lines(r.out);
  ASSERT_EQ(got.size(), cs.size());
  for (std::size_t i = 0; i < cs.size(); ++i) {
    EXPECT_EQ(got[i].at("input_ids"), cs[i].input_ids) << "text: " << Json(cs[i].text).dump();
    EXPECT_EQ(got[i].at("attention_mask"), cs[i].attention_mask) << "text: " << Json(cs[i].text).dump();
  }
}

TEST(Tokenize, OutputEqualsHuggingFaceOnFixtureCases) {
  const auto cs = cases("tokenizer/cases.jsonl", 9);  // about 50 of the 447, all kinds
  ASSERT_GT(cs.size(), 40u);
  const auto r = testing::run_process(
      {testing::program("loraft-tokenize").string(), "--vocab",
       testing::data_file("vocab/bert-base-uncased/vocab.txt").string(), "--max-length",
       std::to_string(cs[0].input_ids.size()), "--threads", "2", "--batch", "7"},
      stdin_for(cs));
  expect_matches(cs, r);
}

TEST(Tokenize, TinyModelVocabularyAndMaxLength) {
  const auto cs = cases("distilbert-tiny/inputs.jsonl", 1);
  const auto r = testing::run_process(
      {testing::program("loraft-tokenize").string(), "--vocab",
       testing::fixture("distilbert-tiny/vocab.txt").string(), "--max-length",
       std::to_string(cs[0].input_ids.size())},
      stdin_for(cs));
  expect_matches(cs, r);
}

TEST(Tokenize, BadLineIsExitStatusTwoNamingTheLine) {
  const std::string vocab = testing::fixture("distilbert-tiny/vocab.txt").string();
  const std::string prog = testing::program("loraft-tokenize").string();
  auto r = testing::run_process({prog, "--vocab", vocab}, "{\"text\": \"good\"}\n\n{\"text\": oops}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("stdin:3"), std::string::npos) << r.err;
  EXPECT_EQ(json_lines(r.out).size(), 1u) << "lines before the bad one are still written";

  r = testing::run_process({prog, "--vocab", vocab}, "{\"text\": \"caf\xC3(\"}\n");  // bad UTF-8
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("stdin:1"), std::string::npos) << r.err;
}

TEST(Tokenize, MissingVocabularyIsExitStatusTwo) {
  const auto r = testing::run_process(
      {testing::program("loraft-tokenize").string(), "--vocab", "no/such/vocab.txt"}, "");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no/such/vocab.txt"), std::string::npos) << r.err;
}

// More error paths; each costs a process start, hence in the `slow` set.
TEST(Tokenize, SlowOtherBadInputsAreExitStatusTwo) {
  const std::string vocab = testing::fixture("distilbert-tiny/vocab.txt").string();
  const std::string prog = testing::program("loraft-tokenize").string();
  auto r = testing::run_process({prog, "--vocab", vocab}, "{\"text\": \"a\"}\n{\"label\": 1}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("stdin:2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"text\""), std::string::npos) << r.err;
  r = testing::run_process({prog, "--vocab", vocab}, "[\"text\"]\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("stdin:1"), std::string::npos) << r.err;
  r = testing::run_process({prog, "--vocab", vocab}, "{\"text\": 5}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(testing::run_process({prog}, "").exit_code, 2);
  EXPECT_EQ(testing::run_process({prog, "--vocab", vocab, "--max-length", "0"}, "").exit_code, 2);
}

}  // namespace
}  // namespace loraft
