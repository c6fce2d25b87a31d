#pragma once
/// @file
/// @brief BERT's basic tokenizer: cleaning, CJK splitting, lower-casing, accent stripping,
/// whitespace and punctuation splitting, exactly as transformers 4.46.3 does them.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loraft/text/word_list.h"

namespace loraft::text {

/// Options of BasicTokenizer, named and defaulted as transformers' `BasicTokenizer`.
struct BasicTokenizerOptions {
  /// Lower-case the text (bert-base-uncased: true).
  bool do_lower_case = true;
  /// Put spaces around CJK ideographs so that each becomes a word.
  bool tokenize_chinese_chars = true;
  /// Strip accents (NFD, then drop category Mn). Unset: follow do_lower_case, as HF does
  /// for `strip_accents=None`.
  std::optional<bool> strip_accents;
  /// Words kept whole: not lower-cased, not accent-stripped, not split on punctuation
  /// (HF passes the special tokens here).
  std::vector<std::string> never_split;
};

/// Splits text into the words WordPiece then splits further.
///
/// split(text) is what `BertTokenizer.tokenize` in transformers 4.46.3 hands to WordPiece for
/// a piece of text without special tokens: first `PreTrainedTokenizer.tokenize` lower-cases
/// each character on its own (when do_lower_case), then `BasicTokenizer.tokenize`:
/// 1. `_clean_text`: delete U+0000, U+FFFD and `_is_control` characters; whitespace
///    (`_is_whitespace`) becomes a space;
/// 2. `_tokenize_chinese_chars`: spaces around each `_is_chinese_char`;
/// 3. NFC, then `whitespace_tokenize` (Python `str.split()`);
/// 4. per word: `lower()`, `_run_strip_accents` (NFD, drop Mn), `_run_split_on_punc`;
///    words in never_split skip step 4;
/// 5. `whitespace_tokenize(" ".join(...))` again.
///
/// Everything happens in one pass over the bytes; see basic_tokenizer.cpp for why each
/// shortcut gives the same words. Because the text was lower-cased per character first,
/// step 4's whole-word `lower()` has nothing left to change (Python's final-sigma rule
/// included), so it is not done again. Thread-safe: split() is const and keeps its scratch
/// memory per thread.
class BasicTokenizer {
 public:
  /// A tokenizer with the given options.
  explicit BasicTokenizer(BasicTokenizerOptions options = {});

  /// Appends the words of `text` to `out`. Throws FormatError naming the byte offset if
  /// `text` is not valid UTF-8.
  void split(std::string_view text, WordList& out) const;

  /// The words of `text` as strings (convenience over split()).
  std::vector<std::string> tokenize(std::string_view text) const;

  /// The options in force.
  const BasicTokenizerOptions& options() const noexcept { return options_; }

  /// Whether accents are stripped (strip_accents resolved against do_lower_case).
  bool strips_accents() const noexcept { return strip_; }

 private:
  struct Scratch;
  void finish_word(WordList& out, std::size_t start, bool ascii, Scratch& scratch) const;
  bool is_never_split(std::string_view word) const noexcept;

  BasicTokenizerOptions options_;
  bool lower_;
  bool strip_;
  bool chinese_;
  // False when no word can ever equal a never_split entry (see the constructor), which lets
  // split() skip the comparison and the NFC it would need.
  bool never_split_reachable_;
  // Split at ASCII punctuation while scanning (see split()): accents stripped and never_split
  // unreachable, the default of uncased BERT.
  bool split_punctuation_early_;
};

}  // namespace loraft::text
