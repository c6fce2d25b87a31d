// The golden fixtures: every case that transformers 4.46.3's slow BertTokenizer encoded.
// Expectations are read from the files; a failure prints the case so it can be debugged.

#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "loraft/io/json.h"
#include "loraft/text/bert_tokenizer.h"
#include "support/test_support.h"

namespace loraft::text {
namespace {

using io::Json;

const BertTokenizer& bert_base_uncased() {
  static const BertTokenizer tok =
      BertTokenizer::from_file(testing::data_file("vocab/bert-base-uncased/vocab.txt"));
  return tok;
}

template <typename T>
std::string join(const std::vector<T>& v) {
  std::ostringstream os;
  os << "[";
  for (std::size_t i = 0; i < v.size(); ++i) os << (i ? " " : "") << v[i];
  os << "]";
  return os.str();
}

// Where two lists first differ, for the failure message.
template <typename T>
std::string first_difference(const std::vector<T>& expected, const std::vector<T>& got) {
  std::size_t i = 0;
  while (i < expected.size() && i < got.size() && expected[i] == got[i]) ++i;
  std::ostringstream os;
  os << "first difference at index " << i << ": expected "
     << (i < expected.size() ? ::testing::PrintToString(expected[i]) : std::string("<end>"))
     << ", got " << (i < got.size() ? ::testing::PrintToString(got[i]) : std::string("<end>"));
  return os.str();
}

// The tokens HF lists for a case: [CLS], the pieces that survived truncation, [SEP].
std::vector<std::string> wrapped(const BertTokenizer& tok, const std::vector<std::string>& pieces,
                                 std::size_t max_length) {
  std::vector<std::string> out{std::string(tok.vocab().token(tok.cls_id()))};
  const std::size_t keep = std::min(pieces.size(), max_length - 2);
  out.insert(out.end(), pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(keep));
  out.emplace_back(tok.vocab().token(tok.sep_id()));
  return out;
}

// Checks one single-text case; returns a description of every mismatch (empty when none).
std::string check_case(const BertTokenizer& tok, const Json& c) {
  const auto text = c.at("text").get<std::string>();
  const auto ids = c.at("input_ids").get<std::vector<std::int32_t>>();
  const auto mask = c.at("attention_mask").get<std::vector<std::int32_t>>();
  const auto tokens = c.at("tokens").get<std::vector<std::string>>();
  const int max_length = static_cast<int>(ids.size());  // the fixture's max_length

  std::ostringstream problems;
  Encoding e;
  std::vector<std::string> pieces;
  try {
    e = tok.encode(text, max_length, true, Padding::max_length);
    pieces = tok.tokenize(text);
  } catch (const std::exception& ex) {
    return std::string("threw: ") + ex.what();
  }
  const auto got_tokens = wrapped(tok, pieces, static_cast<std::size_t>(max_length));
  if (got_tokens != tokens)
    problems << "\n  tokens differ: " << first_difference(tokens, got_tokens)
             << "\n    expected " << join(tokens) << "\n    got      " << join(got_tokens);
  if (e.input_ids != ids)
    problems << "\n  input_ids differ: " << first_difference(ids, e.input_ids)
             << "\n    expected " << join(ids) << "\n    got      " << join(e.input_ids);
  if (e.attention_mask != mask)
    problems << "\n  attention_mask differs: " << first_difference(mask, e.attention_mask);
  if (c.contains("token_type_ids") &&
      e.token_type_ids != c.at("token_type_ids").get<std::vector<std::int32_t>>())
    problems << "\n  token_type_ids differ";
  if (c.contains("n_wordpieces_untruncated")) {
    const auto n = c.at("n_wordpieces_untruncated").get<std::size_t>();
    if (pieces.size() != n || e.num_wordpieces != n)
      problems << "\n  untruncated length: expected " << n << ", tokenize() gave "
               << pieces.size() << ", encode() counted " << e.num_wordpieces;
  }
  return problems.str();
}

std::string describe(const Json& c, long long line) {
  std::ostringstream os;
  os << "case";
  if (c.contains("id")) os << " id=" << c.at("id").dump();
  if (c.contains("source")) os << " source=" << c.at("source").get<std::string>();
  os << " (line " << line << ")\n  text: " << c.at("text").dump();
  if (c.contains("text_pair")) os << "\n  text_pair: " << c.at("text_pair").dump();
  return os.str();
}

TEST(TokenizerFixtures, VocabIsTheOneTheFixturesUsed) {
  const Json meta = io::read_json(testing::fixture("tokenizer/tokenizer.json"));
  EXPECT_EQ(bert_base_uncased().vocab().sha256(), meta.at("vocab_sha256").get<std::string>());
  const auto& settings = meta.at("tokenizer_settings");
  EXPECT_EQ(bert_base_uncased().options().max_input_chars_per_word,
            settings.at("max_input_chars_per_word").get<int>());
  const auto names = settings.at("all_special_tokens").get<std::vector<std::string>>();
  const auto ids = settings.at("all_special_ids").get<std::vector<std::int32_t>>();
  ASSERT_EQ(names.size(), ids.size());
  for (std::size_t i = 0; i < names.size(); ++i)
    EXPECT_EQ(bert_base_uncased().vocab().id(names[i]), ids[i]) << names[i];
}

TEST(TokenizerFixtures, EveryCaseMatchesHuggingFace) {
  const BertTokenizer& tok = bert_base_uncased();
  const Json meta = io::read_json(testing::fixture("tokenizer/tokenizer.json"));
  std::size_t cases = 0, failed = 0, truncated = 0;
  io::for_each_json_line(testing::fixture("tokenizer/cases.jsonl"), [&](const Json& c, long long line) {
    ++cases;
    if (c.at("n_wordpieces_untruncated").get<std::size_t>() + 2 > c.at("input_ids").size()) ++truncated;
    const std::string problems = check_case(tok, c);
    if (!problems.empty()) {
      ++failed;
      ADD_FAILURE() << describe(c, line) << problems;
    }
  });
  EXPECT_EQ(cases, meta.at("n_cases").get<std::size_t>());
  EXPECT_EQ(truncated, meta.at("n_truncated").get<std::size_t>());
  EXPECT_EQ(failed, 0u) << failed << " of " << cases << " cases differ";
}

TEST(TokenizerFixtures, EveryPairMatchesHuggingFace) {
  const BertTokenizer& tok = bert_base_uncased();
  const Json meta = io::read_json(testing::fixture("tokenizer/tokenizer.json"));
  std::size_t pairs = 0, failed = 0;
  io::for_each_json_line(testing::fixture("tokenizer/pairs.jsonl"), [&](const Json& c, long long line) {
    ++pairs;
    const auto ids = c.at("input_ids").get<std::vector<std::int32_t>>();
    const auto mask = c.at("attention_mask").get<std::vector<std::int32_t>>();
    const auto types = c.at("token_type_ids").get<std::vector<std::int32_t>>();
    std::ostringstream problems;
    try {
      const Encoding e = tok.encode_pair(c.at("text").get<std::string>(),
                                         c.at("text_pair").get<std::string>(),
                                         static_cast<int>(ids.size()));
      if (e.input_ids != ids)
        problems << "\n  input_ids differ: " << first_difference(ids, e.input_ids)
                 << "\n    expected " << join(ids) << "\n    got      " << join(e.input_ids);
      if (e.attention_mask != mask)
        problems << "\n  attention_mask differs: " << first_difference(mask, e.attention_mask);
      if (e.token_type_ids != types)
        problems << "\n  token_type_ids differ: " << first_difference(types, e.token_type_ids)
                 << "\n    expected " << join(types) << "\n    got      " << join(e.token_type_ids);
    } catch (const std::exception& ex) {
      problems << "threw: " << ex.what();
    }
    if (!problems.str().empty()) {
      ++failed;
      ADD_FAILURE() << describe(c, line) << problems.str();
    }
  });
  EXPECT_EQ(pairs, meta.at("n_pairs").get<std::size_t>());
  EXPECT_EQ(failed, 0u) << failed << " of " << pairs << " pairs differ";
}

TEST(TokenizerFixtures, TinyModelVocabularyCasesMatch) {
  const BertTokenizer tok = BertTokenizer::from_file(testing::fixture("distilbert-tiny/vocab.txt"));
  std::size_t cases = 0, failed = 0;
  io::for_each_json_line(testing::fixture("distilbert-tiny/inputs.jsonl"), [&](const Json& c, long long line) {
    ++cases;
    const std::string problems = check_case(tok, c);
    if (!problems.empty()) {
      ++failed;
      ADD_FAILURE() << describe(c, line) << problems;
    }
  });
  EXPECT_GT(cases, 0u);
  EXPECT_EQ(failed, 0u);
}

}  // namespace
}  // namespace loraft::text
