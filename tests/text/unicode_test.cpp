// The character classes of unicode.h, each against a hand-checked example of the rule it
// reproduces (transformers' _is_control/_is_whitespace/_is_punctuation, Python's str).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "loraft/text/unicode.h"
#include "loraft/text/utf8.h"

namespace loraft::text {
namespace {

using U = std::initializer_list<std::uint32_t>;
std::vector<std::int32_t> cps(std::initializer_list<std::int32_t> l) { return l; }

TEST(Unicode, PythonLowerIsPerCharacterWithTheDottedCapitalI) {
  std::uint32_t out[2];
  ASSERT_EQ(python_lower('A', out), 1);
  EXPECT_EQ(out[0], static_cast<std::uint32_t>('a'));
  // 'İ'.lower() == 'i\u0307' (SpecialCasing.txt), the one multi-character lower case.
  ASSERT_EQ(python_lower(0x130, out), 2);
  EXPECT_EQ(out[0], static_cast<std::uint32_t>('i'));
  EXPECT_EQ(out[1], 0x307u);
  // One character on its own: 'Σ' gives 'σ', never the final 'ς'.
  ASSERT_EQ(python_lower(0x3A3, out), 1);
  EXPECT_EQ(out[0], 0x3C3u);
  ASSERT_EQ(python_lower(0x212A, out), 1);  // KELVIN SIGN -> 'k'
  EXPECT_EQ(out[0], static_cast<std::uint32_t>('k'));
  ASSERT_EQ(python_lower(0x1E9E, out), 1);  // CAPITAL SHARP S -> 'ß'
  EXPECT_EQ(out[0], 0xDFu);
}

TEST(Unicode, ControlIsEveryOtherCategoryButTabNewlineReturn) {
  for (std::uint32_t c : U{0x0u, 0x7u, 0xBu, 0xCu, 0x1Cu, 0x1Fu, 0x7Fu, 0x85u}) EXPECT_TRUE(is_control(c)) << c;
  for (std::uint32_t c : U{0x200Bu, 0x200Du, 0xFEFFu, 0xADu}) EXPECT_TRUE(is_control(c)) << c;  // Cf
  EXPECT_TRUE(is_control(0xE000));   // Co, private use
  EXPECT_TRUE(is_control(0xF0000));  // Co, plane 15
  EXPECT_TRUE(is_control(0x378));    // Cn, unassigned
  for (std::uint32_t c : U{'\t', '\n', '\r', ' ', 'a'}) EXPECT_FALSE(is_control(c)) << c;
  EXPECT_FALSE(is_control(0x2028));  // Zl is not C*
}

TEST(Unicode, BertWhitespaceIsSpaceTabNewlineReturnAndZs) {
  for (std::uint32_t c : U{' ', '\t', '\n', '\r'}) EXPECT_TRUE(is_whitespace(c)) << c;
  for (std::uint32_t c : U{0xA0u, 0x1680u, 0x2000u, 0x200Au, 0x202Fu, 0x205Fu, 0x3000u})
    EXPECT_TRUE(is_whitespace(c)) << c;
  for (std::uint32_t c : U{0xBu, 0xCu, 0x1Cu, 0x85u, 0x2028u, 0x2029u, 0x200Bu, 0x180Eu})
    EXPECT_FALSE(is_whitespace(c)) << c;
}

TEST(Unicode, PythonWhitespaceAddsLineAndParagraphSeparators) {
  for (std::uint32_t c : U{' ', '\t', '\n', '\r'}) EXPECT_TRUE(is_python_whitespace(c)) << c;
  for (std::uint32_t c : U{0xBu, 0xCu, 0x1Cu, 0x1Du, 0x1Eu, 0x1Fu, 0x85u, 0xA0u, 0x1680u, 0x2028u,
                          0x2029u, 0x3000u})
    EXPECT_TRUE(is_python_whitespace(c)) << c;
  for (std::uint32_t c : U{0x200Bu, 0x180Eu, 0xFEFFu, 'a', 0x1Bu}) EXPECT_FALSE(is_python_whitespace(c)) << c;
}

TEST(Unicode, PunctuationIsAsciiSymbolsAndCategoryP) {
  for (char c : std::string("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")) EXPECT_TRUE(is_punctuation(static_cast<unsigned char>(c))) << c;
  for (std::uint32_t c : U{0x3001u, 0x2014u, 0x00BFu, 0x055Du, 0x2019u, 0x201Cu, 0xFF01u}) EXPECT_TRUE(is_punctuation(c)) << c;
  for (std::uint32_t c : U{'a', '0', ' ', 0x20ACu /* € Sc */, 0x00D7u /* × Sm */, 0x00A9u /* © So */})
    EXPECT_FALSE(is_punctuation(c)) << c;
}

TEST(Unicode, ChineseCharsAreTheCjkIdeographBlocksOnly) {
  for (std::uint32_t c : U{0x4E2Du, 0x9FFFu, 0x3400u, 0x20000u, 0x2A700u, 0x2CEAFu, 0xF900u, 0x2F800u})
    EXPECT_TRUE(is_chinese_char(c)) << c;
  for (std::uint32_t c : U{0x3042u /* hiragana */, 0x30A2u /* katakana */, 0xAC00u /* Hangul */,
                          0x3000u, 0x3001u, 0x2CEB0u, 0x2F00u /* Kangxi radical */})
    EXPECT_FALSE(is_chinese_char(c)) << c;
}

TEST(Unicode, NonspacingMarksAreCategoryMnOnly) {
  EXPECT_TRUE(is_nonspacing_mark(0x301));
  EXPECT_TRUE(is_nonspacing_mark(0x307));
  EXPECT_FALSE(is_nonspacing_mark(0x1D165));  // Mc (combining, but spacing)
  EXPECT_FALSE(is_nonspacing_mark(0x20DD));   // Me
  EXPECT_FALSE(is_nonspacing_mark('a'));
}

TEST(Unicode, CharactersNewerThanTheReferenceCountAsUnassigned) {
  // Python 3.11 has Unicode 14.0; U+1FA77 (PINK HEART) and CJK Extension H arrived in 15.0.
  EXPECT_TRUE(is_unassigned_in_reference(0x1FA77));
  EXPECT_TRUE(is_unassigned_in_reference(0x31350));
  EXPECT_TRUE(is_control(0x1FA77));
  EXPECT_FALSE(is_unassigned_in_reference(0x1FA74));  // THONG SANDAL, Unicode 13
  EXPECT_FALSE(is_unassigned_in_reference(0x1FA78));  // DROP OF BLOOD, Unicode 12
  EXPECT_FALSE(is_unassigned_in_reference('a'));
  EXPECT_FALSE(is_punctuation(0x11B00));  // Po in Unicode 15, Cn in 14
}

TEST(Unicode, NfdDecomposesAndReordersMarks) {
  std::vector<std::int32_t> out;
  nfd("\xC3\xA9", out);  // é
  EXPECT_EQ(out, cps({'e', 0x301}));
  nfd("\xED\x95\x9C", out);  // 한 -> jamo
  EXPECT_EQ(out, cps({0x1112, 0x1161, 0x11AB}));
  nfd("a\xCC\x81\xCC\x96", out);  // a, acute (ccc 230), grave below (ccc 220)
  EXPECT_EQ(out, cps({'a', 0x316, 0x301}));
  nfd("\xEF\xA4\x80", out);  // U+F900, a CJK compatibility ideograph: singleton
  EXPECT_EQ(out, cps({0x8C48}));
  nfd("\xEF\xBD\x81", out);  // fullwidth 'a' has only a compatibility mapping
  EXPECT_EQ(out, cps({0xFF41}));
}

TEST(Unicode, NfcComposes) {
  std::vector<std::int32_t> out;
  nfc("e\xCC\x81", out);
  EXPECT_EQ(out, cps({0xE9}));
  nfc("\xE2\x84\xAB", out);  // ANGSTROM SIGN -> Å
  EXPECT_EQ(out, cps({0xC5}));
  nfc("<\xCC\xB8", out);  // '<' + U+0338 -> U+226E
  EXPECT_EQ(out, cps({0x226E}));
}

TEST(Utf8, DecodesAndRejectsWhatPythonRejects) {
  std::size_t i = 0;
  EXPECT_EQ(decode_utf8("\xF0\x9F\x98\x80", i), 0x1F600);
  EXPECT_EQ(i, 4u);
  EXPECT_EQ(find_invalid_utf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("ab\xC3("), 2u);                // bad continuation
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);               // overlong '/'
  EXPECT_EQ(find_invalid_utf8("x\xE0\x80\xAF"), 1u);          // overlong, 3 bytes
  EXPECT_EQ(find_invalid_utf8("\xED\xA0\x80"), 0u);           // surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);       // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("abcdefghij\xE2\x82"), 10u);    // truncated at the end
  EXPECT_EQ(find_invalid_utf8("\x80"), 0u);                   // stray continuation
  EXPECT_EQ(find_invalid_utf8("\xFF"), 0u);
  EXPECT_EQ(count_code_points("a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80"), 4u);
}

}  // namespace
}  // namespace loraft::text
