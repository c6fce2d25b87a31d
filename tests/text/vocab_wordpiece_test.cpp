// Vocab (load_vocab's reading rules) and WordpieceTokenizer (greedy longest match first),
// against small hand-written vocabularies.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "loraft/core/error.h"
#include "loraft/core/hash.h"
#include "loraft/text/vocab.h"
#include "loraft/text/wordpiece_tokenizer.h"
#include "support/test_support.h"

namespace loraft::text {
namespace {

using Tokens = std::vector<std::string>;

std::shared_ptr<const Vocab> vocab_of(const std::string& content) {
  return std::make_shared<const Vocab>(Vocab::parse(content, "test-vocab"));
}

TEST(Vocab, IdIsTheLineIndex) {
  const auto v = vocab_of("[PAD]\n[UNK]\nhello\n##lo\n");
  EXPECT_EQ(v->size(), 4u);
  EXPECT_EQ(v->find("[PAD]"), 0);
  EXPECT_EQ(v->find("hello"), 2);
  EXPECT_EQ(v->find("##lo"), 3);
  EXPECT_EQ(v->find_continuation("lo"), 3);
  EXPECT_EQ(v->find_continuation("hello"), -1);
  EXPECT_EQ(v->find("nope"), -1);
  EXPECT_EQ(v->token(2), "hello");
  EXPECT_EQ(v->id("hello"), 2);
  EXPECT_THROW(v->id("nope"), ConfigError);
  EXPECT_THROW(v->token(4), ConfigError);
  EXPECT_THROW(v->token(-1), ConfigError);
}

TEST(Vocab, DuplicatedTokenMapsToItsLastLine) {
  const auto v = vocab_of("x\ny\nx\n");
  EXPECT_EQ(v->size(), 3u);
  EXPECT_EQ(v->distinct_size(), 2u);
  EXPECT_EQ(v->find("x"), 2);
  EXPECT_EQ(v->token(0), "x");
}

TEST(Vocab, LinesEndAtNewlineCarriageReturnOrBoth) {
  const auto v = vocab_of("a\r\nb\rc\n\nd");  // no final newline: "d" is still a token
  EXPECT_EQ(v->size(), 5u);
  EXPECT_EQ(v->find("a"), 0);
  EXPECT_EQ(v->find("b"), 1);
  EXPECT_EQ(v->find("c"), 2);
  EXPECT_EQ(v->find(""), 3);  // an empty line is the token ""
  EXPECT_EQ(v->find("d"), 4);
  EXPECT_EQ(vocab_of("")->size(), 0u);
  EXPECT_EQ(vocab_of("a\n")->size(), 1u);
}

TEST(Vocab, KeepsAByteOrderMarkAndOtherSeparatorsInTokens) {
  // utf-8 (not utf-8-sig): the BOM is part of the first token; U+2028 is not a line end.
  const auto v = vocab_of("\xEF\xBB\xBF" "a\nb\xE2\x80\xA8" "c\n");
  EXPECT_EQ(v->size(), 2u);
  EXPECT_EQ(v->find("a"), -1);
  EXPECT_EQ(v->find("\xEF\xBB\xBF" "a"), 0);
  EXPECT_EQ(v->find("b\xE2\x80\xA8" "c"), 1);
}

TEST(Vocab, Sha256IsOfTheFileBytes) {
  const std::string content = "[PAD]\n[UNK]\n";
  EXPECT_EQ(vocab_of(content)->sha256(), sha256_hex(content));
  testing::ScratchDir dir;
  testing::write_text(dir / "vocab.txt", content);
  const Vocab v = Vocab::load(dir / "vocab.txt");
  EXPECT_EQ(v.sha256(), sha256_hex(content));
  EXPECT_EQ(v.source(), (dir / "vocab.txt").string());
}

TEST(Vocab, MissingFileIsAnIoErrorNamingIt) {
  testing::ScratchDir dir;
  try {
    Vocab::load(dir / "no-such-vocab.txt");
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-vocab.txt"), std::string::npos) << e.what();
  }
}

TEST(Vocab, InvalidUtf8IsAFormatErrorNamingTheLine) {
  try {
    Vocab::parse("ok\nbad\xFF\n", "v.txt");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.where(), "v.txt:2");
  }
}

const char* kPieces =
    "[PAD]\n[UNK]\nun\n##aff\n##able\na\n##a\n\xC3\x9F\n##\xC3\x9F\nunaff\n##affable\nx\n";

TEST(WordPiece, GreedyLongestMatchFirst) {
  const auto v = vocab_of("[UNK]\nun\n##aff\n##able\n");
  const WordpieceTokenizer wp(v);
  EXPECT_EQ(wp.tokenize("unaffable"), (Tokens{"un", "##aff", "##able"}));
  // Longest first, even when a different split would use fewer pieces.
  const WordpieceTokenizer wp2(vocab_of("[UNK]\nun\nunaff\n##aff\n##able\n##affable\n"));
  EXPECT_EQ(wp2.tokenize("unaffable"), (Tokens{"unaff", "##able"}));
}

TEST(WordPiece, AWordWithAnUnmatchablePartIsOneUnknown) {
  const WordpieceTokenizer wp(vocab_of(kPieces));
  EXPECT_EQ(wp.tokenize("unaffablez"), (Tokens{"[UNK]"}));
  EXPECT_EQ(wp.tokenize("zun"), (Tokens{"[UNK]"}));
  EXPECT_EQ(wp.tokenize("un unaffablez x"), (Tokens{"un", "[UNK]", "x"}));
}

TEST(WordPiece, MoreThanMaxCharsCodePointsIsUnknown) {
  const WordpieceTokenizer wp(vocab_of(kPieces));
  EXPECT_EQ(wp.tokenize(std::string(100, 'a')).size(), 100u);  // a ##a ##a ...
  EXPECT_EQ(wp.tokenize(std::string(101, 'a')), (Tokens{"[UNK]"}));
  // Code points, not bytes: 100 'ß' are 200 bytes and still split.
  std::string sharp;
  for (int i = 0; i < 100; ++i) sharp += "\xC3\x9F";
  const auto pieces = wp.tokenize(sharp);
  ASSERT_EQ(pieces.size(), 100u);
  EXPECT_EQ(pieces[0], "\xC3\x9F");
  EXPECT_EQ(pieces[1], "##\xC3\x9F");
  EXPECT_EQ(wp.tokenize(sharp + "\xC3\x9F"), (Tokens{"[UNK]"}));
  const WordpieceTokenizer wp3(vocab_of(kPieces), "[UNK]", 3);
  EXPECT_EQ(wp3.tokenize("aaa aaaa"), (Tokens{"a", "##a", "##a", "[UNK]"}));
}

TEST(WordPiece, BatchedAndSingleLookupsAgree) {
  const WordpieceTokenizer wp(vocab_of(kPieces));
  WordList words;
  std::vector<std::int32_t> one_by_one, batched;
  for (const char* w : {"un", "unaffable", "zz", "aaa", "x", "unaffablea", "\xC3\x9F\xC3\x9F"}) {
    words.push_back(w);
    wp.append_ids(std::string_view(w), one_by_one);
  }
  for (int i = 0; i < 40; ++i) {  // more than one block of prefetched lookups
    words.push_back(i % 2 ? "x" : "unaff");
    wp.append_ids(std::string_view(i % 2 ? "x" : "unaff"), one_by_one);
  }
  wp.append_ids(words, batched);
  EXPECT_EQ(batched, one_by_one);
}

TEST(WordPiece, UnknownTokenMustBeInTheVocabulary) {
  EXPECT_THROW(WordpieceTokenizer(vocab_of("a\n")), ConfigError);
}

}  // namespace
}  // namespace loraft::text
