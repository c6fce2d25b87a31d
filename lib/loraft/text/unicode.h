#pragma once
/// @file
/// @brief The character classes of Hugging Face's BERT tokenizer, from utf8proc's data.
///
/// The reference (transformers 4.46.3 on Python 3.11) asks Python's `unicodedata` and `str`
/// methods; each function here names the reference rule it reproduces. All character data
/// (categories, bidi classes, case mappings, decompositions) comes from utf8proc.
///
/// Python 3.11 ships Unicode 14.0.0 while utf8proc 2.8 ships 15.0.0. The only difference
/// between the two for every rule used here is the 4,489 characters that Unicode 15.0
/// assigned: Python sees them as unassigned (category Cn), so `_is_control` is true and BERT
/// deletes them. is_unassigned_in_reference() restores that view (see unicode.cpp).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loraft::text {

/// The Unicode version of the reference's character data (Python 3.11's `unicodedata`).
inline constexpr const char* kReferenceUnicodeVersion = "14.0.0";

/// The Unicode version of the linked utf8proc (part of the tokenizer fingerprint, because
/// characters assigned after 15.0 are classified by whatever utf8proc knows).
std::string utf8proc_unicode_data_version();

/// True for code points that utf8proc's Unicode assigns but Unicode 14.0 (the reference's)
/// does not; the reference treats them as category Cn.
bool is_unassigned_in_reference(std::uint32_t cp) noexcept;

/// Python's `str.lower()` of the one-character string `chr(cp)`: writes 1 or 2 code points
/// to `out` and returns how many. Python uses the simple lower-case mapping (which is what
/// utf8proc_tolower gives) except for the one unconditional multi-character entry of
/// SpecialCasing.txt, U+0130 'İ' -> "i" U+0307; compared for every code point with Python
/// 3.11, that is the only difference. (Python's final-sigma rule needs context; the
/// reference lower-cases one character at a time, see PreTrainedTokenizer.tokenize, so it
/// never applies.)
int python_lower(std::uint32_t cp, std::uint32_t out[2]) noexcept;

/// `_is_control` (transformers/tokenization_utils.py): every category C* (Cc, Cf, Cs, Co,
/// Cn), except tab, newline and carriage return, which count as whitespace.
bool is_control(std::uint32_t cp) noexcept;

/// `_is_whitespace` (transformers/tokenization_utils.py): space, tab, newline, carriage
/// return, and category Zs. BasicTokenizer._clean_text maps these to a space.
bool is_whitespace(std::uint32_t cp) noexcept;

/// Python's `str.isspace()`, which `str.split()` (whitespace_tokenize) splits on: bidi class
/// WS, B or S, or category Zs (CPython's makeunicodedata.py). This adds U+2028, U+2029,
/// U+001C..U+001F, U+0085, U+000B and U+000C to is_whitespace().
bool is_python_whitespace(std::uint32_t cp) noexcept;

/// `_is_punctuation` (transformers/tokenization_utils.py): ASCII 33-47, 58-64, 91-96,
/// 123-126 (so `$`, `^`, `` ` ``, `+`... count), and every category P*.
bool is_punctuation(std::uint32_t cp) noexcept;

/// `BasicTokenizer._is_chinese_char`: the CJK Unified Ideographs blocks BERT lists (not
/// kana, not Hangul, not CJK punctuation).
bool is_chinese_char(std::uint32_t cp) noexcept;

/// Category Mn, which `BasicTokenizer._run_strip_accents` deletes after NFD.
bool is_nonspacing_mark(std::uint32_t cp) noexcept;

/// Replaces `out` with the canonical decomposition (NFD, with canonical reordering) of the
/// valid UTF-8 `s`, as `unicodedata.normalize("NFD", s)` gives it.
void nfd(std::string_view s, std::vector<std::int32_t>& out);

/// Replaces `out` with the canonical composition (NFC) of the valid UTF-8 `s`, as
/// `unicodedata.normalize("NFC", s)` gives it.
void nfc(std::string_view s, std::vector<std::int32_t>& out);

}  // namespace loraft::text
