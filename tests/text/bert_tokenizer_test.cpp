// BertTokenizer: special tokens in text, encoding, truncation, padding, batches, errors and
// the fingerprint. Expectations are worked out by hand from transformers' code.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "loraft/core/error.h"
#include "loraft/io/file.h"
#include "loraft/io/json.h"
#include "loraft/text/bert_tokenizer.h"
#include "support/test_support.h"

namespace loraft::text {
namespace {

using Tokens = std::vector<std::string>;
using Ids = std::vector<std::int32_t>;

// ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then the words below from 5.
const char* kSmallVocab =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n,\n!\n[\n]\ncls\n"
    "a\nb\nc\nd\ne\nf\ng\n##s\n";

BertTokenizer small(BertTokenizerOptions o = {}) {
  return BertTokenizer(std::make_shared<const Vocab>(Vocab::parse(kSmallVocab, "small")), std::move(o));
}

TEST(BertTokenizer, SpecialTokensInTextAreKept) {
  const auto t = small();
  EXPECT_EQ(t.tokenize("hello [MASK] world"), (Tokens{"hello", "[MASK]", "world"}));
  EXPECT_EQ(t.tokenize("[CLS]hello[SEP]"), (Tokens{"[CLS]", "hello", "[SEP]"}));
  EXPECT_EQ(t.tokenize("[[CLS]]"), (Tokens{"[", "[CLS]", "]"}));
  EXPECT_EQ(t.tokenize("[PAD][UNK]"), (Tokens{"[PAD]", "[UNK]"}));
  // Exact case only: "[cls]" is ordinary text, split on punctuation.
  EXPECT_EQ(t.tokenize("[cls]"), (Tokens{"[", "cls", "]"}));
  // Lower-casing happens around special tokens, never inside them.
  EXPECT_EQ(t.tokenize("HELLO[MASK]WORLD"), (Tokens{"hello", "[MASK]", "world"}));
  // A deleted character inside does not make a special token: the split comes first.
  EXPECT_EQ(t.tokenize("[CL\xE2\x80\x8BS]"), (Tokens{"[", "cls", "]"}));
  EXPECT_EQ(t.token_ids("[MASK]"), (Ids{4}));
}

TEST(BertTokenizer, EncodeWrapsTruncatesAndPads) {
  const auto t = small();
  Encoding e = t.encode("a b c", 8);
  EXPECT_EQ(e.input_ids, (Ids{2, 12, 13, 14, 3, 0, 0, 0}));
  EXPECT_EQ(e.attention_mask, (Ids{1, 1, 1, 1, 1, 0, 0, 0}));
  EXPECT_EQ(e.token_type_ids, (Ids{0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(e.num_wordpieces, 3u);
  EXPECT_EQ(e.length(), 5u);
  e = t.encode("a b c d e f g", 5);
  EXPECT_EQ(e.input_ids, (Ids{2, 12, 13, 14, 3}));
  EXPECT_EQ(e.attention_mask, (Ids{1, 1, 1, 1, 1}));
  EXPECT_EQ(e.num_wordpieces, 7u);
  e = t.encode("", 4);
  EXPECT_EQ(e.input_ids, (Ids{2, 3, 0, 0}));
  e = t.encode("a b", 8, true, Padding::none);
  EXPECT_EQ(e.input_ids, (Ids{2, 12, 13, 3}));
  EXPECT_EQ(e.attention_mask, (Ids{1, 1, 1, 1}));
  e = t.encode("a b c d", 4, false, Padding::max_length);  // no truncation: longer than 4
  EXPECT_EQ(e.input_ids, (Ids{2, 12, 13, 14, 15, 3}));
}

TEST(BertTokenizer, TooShortMaxLengthKeepsTheSequenceLikeHuggingFace) {
  // truncate_sequences cannot remove len(ids) tokens from ids, logs an error and returns
  // them all.
  const auto t = small();
  EXPECT_EQ(t.encode("a b", 2).input_ids, (Ids{2, 12, 13, 3}));
  EXPECT_EQ(t.encode("", 2).input_ids, (Ids{2, 3}));
  EXPECT_EQ(t.encode("a b", 3).input_ids, (Ids{2, 12, 3}));
  EXPECT_THROW(t.encode("a", 0), ConfigError);
}

TEST(BertTokenizer, PairsTruncateLongestFirst) {
  const auto t = small();
  // 5 + 2 pieces, max 6: 4 to remove; 3 from the longer, then one more from the second
  // (equal lengths: the second loses first). (5,2) -> (2,1).
  Encoding e = t.encode_pair("a b c d e", "f g", 6);
  EXPECT_EQ(e.input_ids, (Ids{2, 12, 13, 3, 17, 3}));
  EXPECT_EQ(e.token_type_ids, (Ids{0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(e.num_wordpieces, 7u);
  // (2,5) -> (2,1) as well.
  e = t.encode_pair("a b", "c d e f g", 6);
  EXPECT_EQ(e.input_ids, (Ids{2, 12, 13, 3, 14, 3}));
  // (3,3), max 7 -> remove 2 -> (2,2).
  e = t.encode_pair("a b c", "d e f", 7);
  EXPECT_EQ(e.input_ids, (Ids{2, 12, 13, 3, 15, 16, 3}));
  // (4,4), max 6 -> remove 5 -> (2,1).
  e = t.encode_pair("a b c d", "d e f g", 6);
  EXPECT_EQ(e.input_ids, (Ids{2, 12, 13, 3, 15, 3}));
  // Padding: token_type_ids are 0 on padding.
  e = t.encode_pair("a", "b", 8);
  EXPECT_EQ(e.input_ids, (Ids{2, 12, 3, 13, 3, 0, 0, 0}));
  EXPECT_EQ(e.attention_mask, (Ids{1, 1, 1, 1, 1, 0, 0, 0}));
  EXPECT_EQ(e.token_type_ids, (Ids{0, 0, 0, 1, 1, 0, 0, 0}));
  e = t.encode_pair("a", "", 8, true, Padding::none);
  EXPECT_EQ(e.input_ids, (Ids{2, 12, 3, 3}));
  EXPECT_EQ(e.token_type_ids, (Ids{0, 0, 0, 1}));
}

TEST(Encoding, LongestFirstEqualsRemovingOneTokenAtATime) {
  // Older transformers (and the original BERT) removed one token at a time from the longer
  // sequence, from the second one on ties; HF 4.46's closed form must give the same cut.
  const SpecialIds special{101, 102, 0};
  for (std::size_t la = 0; la <= 12; ++la) {
    for (std::size_t lb = 0; lb <= 12; ++lb) {
      Ids a, b;
      for (std::size_t i = 0; i < la; ++i) a.push_back(static_cast<std::int32_t>(1000 + i));
      for (std::size_t i = 0; i < lb; ++i) b.push_back(static_cast<std::int32_t>(2000 + i));
      for (int max_length = 3; max_length <= 30; ++max_length) {
        std::size_t ka = la, kb = lb;
        while (ka + kb + 3 > static_cast<std::size_t>(max_length)) (ka > kb ? ka : kb) -= 1;
        Ids expected{101};
        expected.insert(expected.end(), a.begin(), a.begin() + static_cast<std::ptrdiff_t>(ka));
        expected.push_back(102);
        expected.insert(expected.end(), b.begin(), b.begin() + static_cast<std::ptrdiff_t>(kb));
        expected.push_back(102);
        const Encoding e = build_encoding(a, &b, special, max_length, true, Padding::none);
        ASSERT_EQ(e.input_ids, expected) << la << " + " << lb << ", max_length " << max_length;
        ASSERT_EQ(e.num_wordpieces, la + lb);
      }
    }
  }
}

TEST(BertTokenizer, InvalidUtf8IsAFormatErrorWithTheByteOffset) {
  const auto t = small();
  try {
    t.encode("hello [MASK] w\xC3(rld");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("byte 14"), std::string::npos) << e.what();
  }
  EXPECT_THROW(t.tokenize("\xED\xA0\x80"), FormatError);  // an encoded surrogate
  try {
    t.encode_batch({"fine", "also fine", "bad\xFF"}, 8, true, Padding::max_length, 2);
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.where(), "texts[2]");
  }
}

TEST(BertTokenizer, ConstructionChecksTheVocabularyAndSpecialTokens) {
  EXPECT_THROW(BertTokenizer(std::make_shared<const Vocab>(Vocab::parse("[PAD]\n[UNK]\n[CLS]\n[SEP]\n"))),
               ConfigError);  // no [MASK]
  BertTokenizerOptions o;
  o.mask_token = "hello";  // lower-casing "HELLO" would create it: not supported
  EXPECT_THROW(small(o), ConfigError);
  o.do_lower_case = false;  // without lower-casing it is fine
  EXPECT_EQ(small(o).tokenize("a hello"), (Tokens{"a", "hello"}));
  testing::ScratchDir dir;
  EXPECT_THROW(BertTokenizer::from_file(dir / "missing.txt"), IoError);
}

TEST(BertTokenizer, FingerprintCoversVocabularyAndOptions) {
  const auto t = small();
  const std::string f = t.fingerprint();
  EXPECT_EQ(f, small().fingerprint());
  const io::Json j = io::Json::parse(f);
  EXPECT_EQ(j.at("vocab_sha256").get<std::string>(), t.vocab().sha256());
  EXPECT_EQ(j.at("do_lower_case").get<bool>(), true);
  EXPECT_EQ(j.at("max_input_chars_per_word").get<int>(), 100);
  BertTokenizerOptions o;
  o.max_input_chars_per_word = 50;
  EXPECT_NE(small(o).fingerprint(), f);
  o = {};
  o.tokenize_chinese_chars = false;
  EXPECT_NE(small(o).fingerprint(), f);
  o = {};
  o.strip_accents = false;
  EXPECT_NE(small(o).fingerprint(), f);
  o = {};
  o.strip_accents = true;  // the same as unset when lower-casing: same ids, same print
  EXPECT_EQ(small(o).fingerprint(), f);
  const BertTokenizer other(std::make_shared<const Vocab>(Vocab::parse(std::string(kSmallVocab) + "extra\n")));
  EXPECT_NE(other.fingerprint(), f);
}

// Review texts: every fixture text plus the IMDB training sample.
std::vector<std::string> many_texts() {
  std::vector<std::string> texts;
  io::for_each_json_line(testing::fixture("tokenizer/cases.jsonl"),
                         [&](const io::Json& c, long long) { texts.push_back(c.at("text").get<std::string>()); });
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(testing::data_file("samples/imdb/train/pos")))
    files.push_back(e.path());
  std::sort(files.begin(), files.end());
  files.resize(std::min<std::size_t>(files.size(), 300));
  for (const auto& f : files) texts.push_back(io::read_file(f));
  return texts;
}

TEST(BertTokenizer, EncodeBatchEqualsEncodingOneByOne) {
  const BertTokenizer t = BertTokenizer::from_file(testing::data_file("vocab/bert-base-uncased/vocab.txt"));
  const auto texts = many_texts();
  std::vector<Encoding> serial;
  for (const auto& s : texts) serial.push_back(t.encode(s, 128));
  for (int threads : {1, 2, 3, 8}) {
    const auto batch = t.encode_batch(texts, 128, true, Padding::max_length, threads);
    ASSERT_EQ(batch.size(), serial.size());
    for (std::size_t i = 0; i < texts.size(); ++i) {
      EXPECT_EQ(batch[i].input_ids, serial[i].input_ids) << "text " << i << ", " << threads << " threads";
      EXPECT_EQ(batch[i].attention_mask, serial[i].attention_mask) << i;
      EXPECT_EQ(batch[i].token_type_ids, serial[i].token_type_ids) << i;
      EXPECT_EQ(batch[i].num_wordpieces, serial[i].num_wordpieces) << i;
    }
  }
  EXPECT_TRUE(t.encode_batch({}, 128).empty());
}

TEST(BertTokenizer, TokenizeAndTokenIdsAgree) {
  const BertTokenizer t = BertTokenizer::from_file(testing::data_file("vocab/bert-base-uncased/vocab.txt"));
  for (const auto& s : many_texts()) {
    const auto ids = t.token_ids(s);
    const auto tokens = t.tokenize(s);
    ASSERT_EQ(ids.size(), tokens.size());
    for (std::size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(t.vocab().token(ids[i]), tokens[i]);
  }
}

}  // namespace
}  // namespace loraft::text
