#include "loraft/text/basic_tokenizer.h"

#include <cstdint>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "loraft/core/error.h"
#include "loraft/text/unicode.h"
#include "loraft/text/utf8.h"

namespace loraft::text {
namespace {

// What _clean_text and the splits do with each ASCII character. Built from the same
// predicates as the general path, so the ASCII fast path cannot disagree with it.
enum AsciiClass : std::uint8_t {
  kWord,         // letters, digits: part of a word
  kPunctuation,  // _is_punctuation: a word of its own
  kSpace,        // _is_whitespace (space, \t, \n, \r): ends a word
  kDrop,         // NUL and the other Cc characters: _clean_text deletes them
};

struct AsciiTables {
  std::uint8_t cls[128];
  char lower[128];
  // The SIMD scan of split() assumes that the word characters are exactly [0-9A-Za-z] and
  // that lower-casing them is `| 0x20` on letters; checked here rather than assumed.
  bool word_is_alnum = true;
  AsciiTables() {
    for (std::uint32_t c = 0; c < 128; ++c) {
      // _clean_text tests deletion before whitespace, hence \v, \f and U+001C..U+001F,
      // which Python's str.split() would split on, are deleted (they are Cc).
      if (c == 0 || is_control(c))
        cls[c] = kDrop;
      else if (is_whitespace(c) || is_python_whitespace(c))
        cls[c] = kSpace;
      else if (is_punctuation(c))
        cls[c] = kPunctuation;
      else
        cls[c] = kWord;
      std::uint32_t l[2];
      python_lower(c, l);  // one code point for all of ASCII
      lower[c] = static_cast<char>(l[0]);
      const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
      const bool alnum = alpha || (c >= '0' && c <= '9');
      if ((cls[c] == kWord) != alnum || lower[c] != static_cast<char>(alpha ? (c | 0x20) : c))
        word_is_alnum = false;
    }
  }
};
// A function-local static, so that a tokenizer used during another file's static
// initialisation still sees built tables.
const AsciiTables& ascii_tables() {
  static const AsciiTables tables;
  return tables;
}

// Copies the run of ASCII letters and digits that starts at p[i] to `w` (lower-cased when
// `lower`), advancing i; returns the bytes written. `w` must have room for the run plus 16.
// Most runs are words of a few letters: classifying 16 bytes at once replaces a
// hard-to-predict loop exit per byte with one count of trailing ones.
inline std::size_t copy_word_run(const AsciiTables& tables, const unsigned char* p, std::size_t n,
                                 std::size_t& i, char* w, bool lower) {
  std::size_t k = 0;
#if defined(__SSE2__)
  if (tables.word_is_alnum) {
    const __m128i a_minus_1 = _mm_set1_epi8('a' - 1), z_plus_1 = _mm_set1_epi8('z' + 1);
    const __m128i d0_minus_1 = _mm_set1_epi8('0' - 1), d9_plus_1 = _mm_set1_epi8('9' + 1);
    const __m128i case_bit = _mm_set1_epi8(0x20);
    while (i + 16 <= n) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      // Bytes >= 0x80 are negative as signed chars, so they fall outside both ranges.
      const __m128i folded = _mm_or_si128(v, case_bit);
      const __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(folded, a_minus_1), _mm_cmplt_epi8(folded, z_plus_1));
      const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, d0_minus_1), _mm_cmplt_epi8(v, d9_plus_1));
      const unsigned word = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(alpha, digit)));
      const __m128i out = lower ? _mm_or_si128(v, _mm_and_si128(alpha, case_bit)) : v;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(w + k), out);
      const auto run = static_cast<std::size_t>(__builtin_ctz(~word));  // ~word has bit 16+ set
      k += run;
      i += run;
      if (run < 16) return k;
    }
  }
#endif
  if (lower) {
    while (i < n && p[i] < 0x80 && tables.cls[p[i]] == kWord) w[k++] = tables.lower[p[i++]];
  } else {
    while (i < n && p[i] < 0x80 && tables.cls[p[i]] == kWord) w[k++] = static_cast<char>(p[i++]);
  }
  return k;
}

// True when Python's lower() leaves every character of `s` unchanged.
bool is_lower_stable(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::int32_t cp = decode_utf8(s, i);
    if (cp < 0) return false;
    std::uint32_t l[2];
    if (python_lower(static_cast<std::uint32_t>(cp), l) != 1 ||
        l[0] != static_cast<std::uint32_t>(cp))
      return false;
  }
  return true;
}

}  // namespace

struct BasicTokenizer::Scratch {
  std::string raw;                // a non-ASCII word before normalisation
  std::vector<std::int32_t> cps;  // its NFC or NFD code points
  std::string utf8;               // re-encoded, for never_split comparisons
};

BasicTokenizer::BasicTokenizer(BasicTokenizerOptions options)
    : options_(std::move(options)),
      lower_(options_.do_lower_case),
      // `if do_lower_case: ... if strip_accents is not False: strip` / `elif strip_accents:`
      strip_(options_.strip_accents.value_or(options_.do_lower_case)),
      chinese_(options_.tokenize_chinese_chars),
      never_split_reachable_(false) {
  for (const std::string& w : options_.never_split) {
    if (find_invalid_utf8(w) != std::string_view::npos)
      throw ConfigError("never_split entry is not valid UTF-8", "BasicTokenizerOptions",
                        "UTF-8 strings");
    // After per-character lower-casing every character of every word is lower-stable
    // (verified for all of Unicode: Python's lower() is idempotent, and NFC/NFD of
    // lower-stable text is lower-stable). An entry with a character that lower() changes,
    // like "[CLS]", can therefore never equal a word when do_lower_case is on.
    if (!lower_ || is_lower_stable(w)) never_split_reachable_ = true;
  }
  // An ASCII punctuation character is always a piece of its own, and the pieces around it
  // can be finished independently when accents are stripped and no never_split test needs
  // the whole word: NFD of "x,y" is NFD(x) "," NFD(y), because ',' is a starter without a
  // decomposition and canonical reordering never moves a mark across a starter. (With NFC
  // it would not hold: "<" U+0338 composes to U+226E, which is not punctuation.)
  split_punctuation_early_ = strip_ && !never_split_reachable_;
}

bool BasicTokenizer::is_never_split(std::string_view word) const noexcept {
  for (const std::string& w : options_.never_split)
    if (word == w) return true;
  return false;
}

std::vector<std::string> BasicTokenizer::tokenize(std::string_view text) const {
  WordList words;
  split(text, words);
  return words.to_vector();
}

void BasicTokenizer::split(std::string_view text, WordList& out) const {
  thread_local Scratch scratch;
  const AsciiTables& tables = ascii_tables();
  // Word ends are 32-bit offsets.
  if (out.size_ + 2 * text.size() + 16 > std::numeric_limits<std::uint32_t>::max())
    throw FormatError("text too long to tokenize (" + std::to_string(text.size()) + " bytes)",
                      "text", "less than 2 GiB per text");

  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t start = out.size_;  // where the current word (or piece, see below) begins
  bool ascii = true;              // it is all ASCII, where NFC and NFD are identities

  auto end_word = [&] {
    if (ascii && split_punctuation_early_) {  // the common case, without a call
      if (out.size_ > start) out.end_word();
    } else {
      finish_word(out, start, ascii, scratch);
    }
    start = out.size_;
    ascii = true;
  };
  // An ASCII punctuation character: with split_punctuation_early_, a word of its own at
  // once; otherwise part of the word until finish_word() splits it off.
  auto punctuation = [&](char c) {
    if (split_punctuation_early_) {
      end_word();
      out.put(c);
      out.end_word();
      start = out.size_;
    } else {
      out.put(c);
    }
  };
  // One non-ASCII character after the per-character lower-casing, through _clean_text,
  // _tokenize_chinese_chars and str.split(). Splitting on non-ASCII punctuation waits until
  // the word is complete, because accent stripping comes first (it may even turn a
  // character into punctuation: U+1FEF becomes '`').
  auto add_char = [&](std::uint32_t cp) {
    if (cp < 0x80) {  // from lower-casing a non-ASCII character ('İ' gives 'i')
      switch (tables.cls[cp]) {
        case kWord:
          out.put(static_cast<char>(cp));
          break;
        case kPunctuation:
          punctuation(static_cast<char>(cp));
          break;
        case kSpace:
          end_word();
          break;
        default:
          break;
      }
      return;
    }
    if (cp == 0xFFFD || is_control(cp)) return;  // _clean_text
    // _clean_text turns _is_whitespace into ' '; str.split() also splits on the
    // is_python_whitespace characters that survive cleaning (U+2028, U+2029).
    if (is_whitespace(cp) || is_python_whitespace(cp)) {
      end_word();
      return;
    }
    if (chinese_ && is_chinese_char(cp)) {  // _tokenize_chinese_chars: " " + c + " "
      end_word();
      out.put_utf8(cp);
      ascii = false;
      end_word();
      return;
    }
    out.put_utf8(cp);
    ascii = false;
  };

  std::size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      const std::uint8_t cls = tables.cls[c];
      if (cls == kWord) {
        // ASCII fast path: a run of letters and digits, lower-cased as it is copied.
        out.size_ += copy_word_run(tables, p, n, i, out.room(n - i + 16), lower_);
        continue;
      }
      if (cls == kPunctuation)
        punctuation(static_cast<char>(c));  // ASCII punctuation has no case
      else if (cls == kSpace)
        end_word();
      ++i;  // kDrop: _clean_text deletes it
      continue;
    }
    const std::size_t at = i;
    const std::int32_t cp = decode_utf8(text, i);
    if (cp < 0) throw_invalid_utf8(text, at, "text");
    if (lower_) {
      // PreTrainedTokenizer.tokenize lower-cases one character at a time (a regex with
      // `(.+?)`), before BasicTokenizer runs: 'İ' becomes "i" U+0307 here.
      std::uint32_t l[2];
      const int k = python_lower(static_cast<std::uint32_t>(cp), l);
      for (int j = 0; j < k; ++j) add_char(l[j]);
    } else {
      add_char(static_cast<std::uint32_t>(cp));
    }
  }
  end_word();
}

void BasicTokenizer::finish_word(WordList& out, std::size_t start, bool ascii,
                                 Scratch& scratch) const {
  if (out.size_ == start) return;  // str.split() yields no empty words
  const AsciiTables& tables = ascii_tables();

  if (ascii) {
    if (split_punctuation_early_) {  // split() already cut out the punctuation
      out.end_word();
      return;
    }
    // NFC, lower() (already done) and NFD change nothing in ASCII, so only never_split
    // and _run_split_on_punc remain; the pieces are sub-ranges of the word, in place.
    if (never_split_reachable_ && is_never_split(out.bytes(start))) {
      out.end_word();
      return;
    }
    std::size_t piece = start;
    const std::size_t end = out.size_;
    const char* b = out.buffer_.data();
    for (std::size_t k = start; k < end; ++k) {
      if (tables.cls[static_cast<unsigned char>(b[k])] == kPunctuation) {
        if (k > piece) out.ends_.push_back(static_cast<std::uint32_t>(k));
        out.ends_.push_back(static_cast<std::uint32_t>(k + 1));
        piece = k + 1;
      }
    }
    if (end > piece) out.ends_.push_back(static_cast<std::uint32_t>(end));
    return;
  }

  scratch.raw.assign(out.bytes(start));
  out.size_ = start;
  auto& cps = scratch.cps;
  auto emit_whole = [&] {
    out.put(scratch.utf8.data(), scratch.utf8.size());
    if (out.size_ > start) out.end_word();
  };
  auto encode = [&] {
    scratch.utf8.clear();
    for (std::int32_t cp : cps) append_utf8(scratch.utf8, static_cast<std::uint32_t>(cp));
  };

  // BasicTokenizer.tokenize normalises the whole text to NFC before splitting it. NFC never
  // composes across a space (no composition starts with a space or a CJK ideograph), so
  // doing it per word is the same. When accents are stripped, NFC is skipped: NFD(NFC(x))
  // equals NFD(x), and lower() changes nothing after the per-character lower-casing; only
  // the never_split test needs the NFC form.
  if (!strip_ || never_split_reachable_) {
    nfc(scratch.raw, cps);
    if (never_split_reachable_) {
      encode();
      if (is_never_split(scratch.utf8)) return emit_whole();
    }
  }
  if (strip_) {
    // _run_strip_accents: NFD, then drop category Mn.
    nfd(scratch.raw, cps);
    std::size_t kept = 0;
    for (std::int32_t cp : cps)
      if (!is_nonspacing_mark(static_cast<std::uint32_t>(cp))) cps[kept++] = cp;
    cps.resize(kept);
    // _run_split_on_punc also keeps a word whole when the *stripped* word is in never_split.
    if (never_split_reachable_) {
      encode();
      if (is_never_split(scratch.utf8)) return emit_whole();
    }
  }

  // _run_split_on_punc, then the final whitespace_tokenize. (Normalisation was checked
  // never to produce whitespace, but splitting on it keeps this exact by construction.)
  std::size_t piece = start;
  auto close_piece = [&] {
    if (out.size_ > piece) out.end_word();
    piece = out.size_;
  };
  for (std::int32_t cp32 : cps) {
    const auto cp = static_cast<std::uint32_t>(cp32);
    if (cp < 0x80 ? tables.cls[cp] == kPunctuation : is_punctuation(cp)) {
      close_piece();
      out.put_utf8(cp);
      close_piece();
    } else if (is_python_whitespace(cp)) {
      close_piece();
    } else {
      out.put_utf8(cp);
    }
  }
  close_piece();
}

}  // namespace loraft::text
