#include "loraft/text/unicode.h"

#include <utf8proc.h>

#include <algorithm>
#include <iterator>
#include <stdexcept>

namespace loraft::text {
namespace {

// The characters Unicode 15.0 added (4,489 code points in 32 ranges), i.e. DerivedAge.txt's
// "15.0" entries. Made by comparing the category of every code point in Python 3.11's
// unicodedata (14.0.0) with utf8proc 2.8 (15.0.0): these are exactly the code points that
// differ, and no other property used here (lower case, NFD, bidi class) differs. This is a
// version pin, not character data: the data itself still comes from utf8proc.
struct Range {
  std::uint32_t first, last;
};
constexpr Range kAddedInUnicode15[] = {
    {0x0CF3, 0x0CF3},   {0x0ECE, 0x0ECE},   {0x10EFD, 0x10EFF}, {0x1123F, 0x11241},
    {0x11B00, 0x11B09}, {0x11F00, 0x11F10}, {0x11F12, 0x11F3A}, {0x11F3E, 0x11F59},
    {0x1342F, 0x1342F}, {0x13439, 0x13455}, {0x1B132, 0x1B132}, {0x1B155, 0x1B155},
    {0x1D2C0, 0x1D2D3}, {0x1DF25, 0x1DF2A}, {0x1E030, 0x1E06D}, {0x1E08F, 0x1E08F},
    {0x1E4D0, 0x1E4F9}, {0x1F6DC, 0x1F6DC}, {0x1F774, 0x1F776}, {0x1F77B, 0x1F77F},
    {0x1F7D9, 0x1F7D9}, {0x1FA75, 0x1FA77}, {0x1FA87, 0x1FA88}, {0x1FAAD, 0x1FAAF},
    {0x1FABB, 0x1FABD}, {0x1FABF, 0x1FABF}, {0x1FACE, 0x1FACF}, {0x1FADA, 0x1FADB},
    {0x1FAE8, 0x1FAE8}, {0x1FAF7, 0x1FAF8}, {0x2B739, 0x2B739}, {0x31350, 0x323AF},
};

// The category the reference sees.
utf8proc_category_t category(std::uint32_t cp) noexcept {
  if (is_unassigned_in_reference(cp)) return UTF8PROC_CATEGORY_CN;
  return static_cast<utf8proc_category_t>(
      utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->category);
}

bool is_other_category(utf8proc_category_t c) noexcept {
  return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CS ||
         c == UTF8PROC_CATEGORY_CO || c == UTF8PROC_CATEGORY_CN;
}

void decompose(std::string_view s, std::vector<std::int32_t>& out, utf8proc_option_t options) {
  out.resize(std::max<std::size_t>(out.capacity(), s.size() + 8));
  for (;;) {
    utf8proc_ssize_t n = utf8proc_decompose(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                            static_cast<utf8proc_ssize_t>(s.size()),
                                            out.data(), static_cast<utf8proc_ssize_t>(out.size()),
                                            options);
    if (n < 0) throw std::invalid_argument(utf8proc_errmsg(n));
    if (static_cast<std::size_t>(n) <= out.size()) {
      out.resize(static_cast<std::size_t>(n));
      return;
    }
    out.resize(static_cast<std::size_t>(n));  // too small: utf8proc said how much it needs
  }
}

}  // namespace

std::string utf8proc_unicode_data_version() { return utf8proc_unicode_version(); }

bool is_unassigned_in_reference(std::uint32_t cp) noexcept {
  if (cp < kAddedInUnicode15[0].first) return false;  // all of ASCII, Latin, Greek, ...
  auto it = std::upper_bound(std::begin(kAddedInUnicode15), std::end(kAddedInUnicode15), cp,
                             [](std::uint32_t v, const Range& r) { return v < r.first; });
  return it != std::begin(kAddedInUnicode15) && cp <= std::prev(it)->last;
}

int python_lower(std::uint32_t cp, std::uint32_t out[2]) noexcept {
  if (cp == 0x130) {  // SpecialCasing.txt: LATIN CAPITAL LETTER I WITH DOT ABOVE
    out[0] = 'i';
    out[1] = 0x307;
    return 2;
  }
  if (is_unassigned_in_reference(cp)) {  // no case mapping in the reference's Unicode
    out[0] = cp;
    return 1;
  }
  out[0] = static_cast<std::uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
  return 1;
}

bool is_control(std::uint32_t cp) noexcept {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  return is_other_category(category(cp));
}

bool is_whitespace(std::uint32_t cp) noexcept {
  if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return true;
  return category(cp) == UTF8PROC_CATEGORY_ZS;
}

bool is_python_whitespace(std::uint32_t cp) noexcept {
  if (is_unassigned_in_reference(cp)) return false;
  const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
  return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
         p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

bool is_punctuation(std::uint32_t cp) noexcept {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
      (cp >= 123 && cp <= 126))
    return true;
  switch (category(cp)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

bool is_chinese_char(std::uint32_t cp) noexcept {
  // The ranges of BasicTokenizer._is_chinese_char, in its order.
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool is_nonspacing_mark(std::uint32_t cp) noexcept {
  return category(cp) == UTF8PROC_CATEGORY_MN;
}

void nfd(std::string_view s, std::vector<std::int32_t>& out) {
  // UTF8PROC_DECOMPOSE without UTF8PROC_COMPAT: canonical decomposition, Hangul included,
  // followed by canonical ordering of combining marks (as unicodedata's NFD).
  decompose(s, out, UTF8PROC_DECOMPOSE);
}

void nfc(std::string_view s, std::vector<std::int32_t>& out) {
  decompose(s, out, UTF8PROC_DECOMPOSE);
  utf8proc_ssize_t n = utf8proc_normalize_utf32(out.data(), static_cast<utf8proc_ssize_t>(out.size()),
                                                UTF8PROC_COMPOSE);
  if (n < 0) throw std::invalid_argument(utf8proc_errmsg(n));
  out.resize(static_cast<std::size_t>(n));
}

}  // namespace loraft::text
