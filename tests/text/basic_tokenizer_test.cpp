// BasicTokenizer, one rule of transformers' BasicTokenizer.tokenize per test, with
// expectations worked out by hand from the reference code.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "loraft/core/error.h"
#include "loraft/text/basic_tokenizer.h"

namespace loraft::text {
namespace {

using Words = std::vector<std::string>;

Words uncased(const std::string& text) { return BasicTokenizer().tokenize(text); }

TEST(BasicTokenizer, LowerCasesAndSplitsPunctuation) {
  EXPECT_EQ(uncased("Hello, World!"), (Words{"hello", ",", "world", "!"}));
  EXPECT_EQ(uncased("don't"), (Words{"don", "'", "t"}));
  EXPECT_EQ(uncased("<br /><br />Great"), (Words{"<", "br", "/", ">", "<", "br", "/", ">", "great"}));
  EXPECT_EQ(uncased("$5^2`x+y=z~"), (Words{"$", "5", "^", "2", "`", "x", "+", "y", "=", "z", "~"}));
  EXPECT_EQ(uncased("1,000.50"), (Words{"1", ",", "000", ".", "50"}));
  EXPECT_EQ(uncased("..."), (Words{".", ".", "."}));
}

TEST(BasicTokenizer, EmptyAndWhitespaceOnlyGiveNoWords) {
  EXPECT_TRUE(uncased("").empty());
  EXPECT_TRUE(uncased(" \t\n\r ").empty());
  EXPECT_TRUE(uncased("\xE3\x80\x80\xC2\xA0").empty());  // U+3000, U+00A0
}

TEST(BasicTokenizer, StripsAccentsAfterNfd) {
  EXPECT_EQ(uncased("Caf\xC3\xA9 na\xC3\xAFve \xC3\x85ngstr\xC3\xB6m"), (Words{"cafe", "naive", "angstrom"}));
  EXPECT_EQ(uncased("cafe\xCC\x81"), (Words{"cafe"}));  // already decomposed
  EXPECT_EQ(uncased("\xCC\x81"), Words{});              // a lone mark disappears
}

TEST(BasicTokenizer, LowerCasesCharacterByCharacter) {
  // 'İ' -> "i" U+0307, and the dot is stripped as a mark.
  EXPECT_EQ(uncased("\xC4\xB0stanbul"), (Words{"istanbul"}));
  // No final sigma: ΟΔΟΣ -> οδοσ (σ, not ς).
  EXPECT_EQ(uncased("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3"), (Words{"\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x83"}));
  EXPECT_EQ(uncased("\xE2\x84\xAA"), (Words{"k"}));  // KELVIN SIGN
}

TEST(BasicTokenizer, CleanTextDeletesControlAndFormatCharacters) {
  EXPECT_EQ(uncased("a\xE2\x80\x8B" "b"), (Words{"ab"}));  // U+200B zero width space (Cf)
  EXPECT_EQ(uncased("\xEF\xBB\xBFhi"), (Words{"hi"}));     // BOM
  EXPECT_EQ(uncased("co\xC2\xADop"), (Words{"coop"}));     // soft hyphen
  EXPECT_EQ(uncased("a\xC2\x85" "b"), (Words{"ab"}));      // U+0085 is Cc: deleted, not split
  EXPECT_EQ(uncased(std::string("a\0b", 3)), (Words{"ab"}));
  EXPECT_EQ(uncased("a\x0b" "b\x0c" "c\x1c" "d\x1f" "e\x7f" "f"), (Words{"abcdef"}));
  EXPECT_EQ(uncased("a\xEF\xBF\xBD" "b"), (Words{"ab"}));  // U+FFFD
  EXPECT_EQ(uncased("a\xEE\x80\x80" "b"), (Words{"ab"}));  // U+E000 private use (Co)
  EXPECT_EQ(uncased("a\xF0\x9F\xA9\xB7" "b"), (Words{"ab"}));  // U+1FA77: unassigned in Unicode 14
}

TEST(BasicTokenizer, SplitsOnEveryPythonWhitespace) {
  EXPECT_EQ(uncased("a\tb\nc\rd e"), (Words{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(uncased("a\xC2\xA0" "b\xE1\x9A\x80" "c\xE3\x80\x80" "d"), (Words{"a", "b", "c", "d"}));
  // U+2028/U+2029 are not BERT whitespace (Zl, Zp), but str.split() splits on them.
  EXPECT_EQ(uncased("a\xE2\x80\xA8" "b\xE2\x80\xA9" "c"), (Words{"a", "b", "c"}));
  // U+180E is no longer whitespace (Cf since Unicode 6.3): deleted.
  EXPECT_EQ(uncased("a\xE1\xA0\x8E" "b"), (Words{"ab"}));
}

TEST(BasicTokenizer, EachCjkIdeographIsAWord) {
  EXPECT_EQ(uncased("\xE4\xB8\xAD\xE6\x96\x87ok"), (Words{"\xE4\xB8\xAD", "\xE6\x96\x87", "ok"}));
  // Kana is not split per character.
  EXPECT_EQ(uncased("\xE3\x81\x82\xE3\x81\x84"), (Words{"\xE3\x81\x82\xE3\x81\x84"}));
  // A compatibility ideograph is split off, then NFD maps it to the unified one.
  EXPECT_EQ(uncased("x\xEF\xA4\x80y"), (Words{"x", "\xE8\xB1\x88", "y"}));
  BasicTokenizerOptions o;
  o.tokenize_chinese_chars = false;
  EXPECT_EQ(BasicTokenizer(o).tokenize("\xE4\xB8\xAD\xE6\x96\x87ok"), (Words{"\xE4\xB8\xAD\xE6\x96\x87ok"}));
}

TEST(BasicTokenizer, HangulSyllablesBecomeJamo) {
  EXPECT_EQ(uncased("\xED\x95\x9C"), (Words{"\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"}));
}

TEST(BasicTokenizer, PunctuationIsDecidedAfterAccentStripping) {
  // U+1FEF GREEK VARIA (Sk) decomposes to '`', which is punctuation.
  EXPECT_EQ(uncased("a\xE1\xBF\xAF" "b"), (Words{"a", "`", "b"}));
  // Unicode punctuation splits too: "a—b" and "«a»".
  EXPECT_EQ(uncased("a\xE2\x80\x94" "b"), (Words{"a", "\xE2\x80\x94", "b"}));
  EXPECT_EQ(uncased("\xC2\xAB" "a\xC2\xBB"), (Words{"\xC2\xAB", "a", "\xC2\xBB"}));
  // Symbols that are not P* stay in the word: "5€".
  EXPECT_EQ(uncased("5\xE2\x82\xAC"), (Words{"5\xE2\x82\xAC"}));
}

TEST(BasicTokenizer, CasedKeepsCaseAndComposesToNfc) {
  BasicTokenizerOptions o;
  o.do_lower_case = false;
  const BasicTokenizer cased(o);
  EXPECT_EQ(cased.tokenize("Hello, World"), (Words{"Hello", ",", "World"}));
  EXPECT_EQ(cased.tokenize("Cafe\xCC\x81"), (Words{"Caf\xC3\xA9"}));  // NFC
  EXPECT_EQ(cased.tokenize("a<\xCC\xB8" "b"), (Words{"a\xE2\x89\xAE" "b"}));  // "≮" is Sm: no split
  o.strip_accents = true;
  EXPECT_EQ(BasicTokenizer(o).tokenize("Caf\xC3\xA9"), (Words{"Cafe"}));
}

TEST(BasicTokenizer, LowerCaseWithoutStrippingKeepsNfcAccents) {
  BasicTokenizerOptions o;
  o.strip_accents = false;
  EXPECT_EQ(BasicTokenizer(o).tokenize("CAFE\xCC\x81"), (Words{"caf\xC3\xA9"}));
}

TEST(BasicTokenizer, NeverSplitKeepsWholeWords) {
  BasicTokenizerOptions o;
  o.do_lower_case = false;
  o.never_split = {"[MASK]"};
  const BasicTokenizer t(o);
  EXPECT_EQ(t.tokenize("a [MASK] b"), (Words{"a", "[MASK]", "b"}));
  EXPECT_EQ(t.tokenize("x[MASK]"), (Words{"x", "[", "MASK", "]"}));  // only whole words
  // The test is on the NFC form: KELVIN SIGN becomes 'K'.
  EXPECT_EQ(t.tokenize("[MAS\xE2\x84\xAA]"), (Words{"[MASK]"}));
  // With lower-casing, "[MASK]" can never appear (its letters are lower-cased first).
  EXPECT_EQ(BasicTokenizer().tokenize("[MASK]"), (Words{"[", "mask", "]"}));
  BasicTokenizerOptions lower_never;
  lower_never.never_split = {"<s>"};
  EXPECT_EQ(BasicTokenizer(lower_never).tokenize("<S> <s>x"), (Words{"<s>", "<", "s", ">", "x"}));
  // _run_split_on_punc tests the stripped word too.
  EXPECT_EQ(BasicTokenizer(lower_never).tokenize("<s\xCC\x81>"), (Words{"<s>"}));
}

TEST(BasicTokenizer, InvalidUtf8NamesTheByte) {
  try {
    uncased("ok \xC3(");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("byte 3"), std::string::npos) << e.what();
  }
}

TEST(BasicTokenizer, SplitAppendsToAWordList) {
  WordList words;
  BasicTokenizer t;
  t.split("One two", words);
  t.split("three", words);
  ASSERT_EQ(words.size(), 3u);
  EXPECT_EQ(words[0], "one");
  EXPECT_EQ(words[2], "three");
  words.clear();
  EXPECT_TRUE(words.empty());
}

}  // namespace
}  // namespace loraft::text
