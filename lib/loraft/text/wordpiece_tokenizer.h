#pragma once
/// @file
/// @brief WordPiece: greedy longest-match-first splitting of a word into vocabulary pieces.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "loraft/text/vocab.h"
#include "loraft/text/word_list.h"

namespace loraft::text {

/// transformers' `WordpieceTokenizer` (models/bert/tokenization_bert.py).
///
/// A word longer than `max_input_chars_per_word` code points becomes the unknown token.
/// Otherwise, from the start of the word, the longest prefix in the vocabulary is taken,
/// then the longest `##`-prefixed continuation, and so on; if some position has no match
/// at all, the whole word becomes the unknown token (not just the rest).
class WordpieceTokenizer {
 public:
  /// Splits against `vocab`; `unk_token` must be in it (ConfigError otherwise).
  WordpieceTokenizer(std::shared_ptr<const Vocab> vocab, std::string unk_token = "[UNK]",
                     int max_input_chars_per_word = 100);

  /// Appends the ids of the pieces of one word (no whitespace in it) to `ids`.
  void append_ids(std::string_view word, std::vector<std::int32_t>& ids) const;

  /// Appends the ids of the pieces of every word of `words`, in order; the same as
  /// append_ids() word by word, but faster: vocabulary lookups of many words are overlapped.
  void append_ids(const WordList& words, std::vector<std::int32_t>& ids) const;

  /// `WordpieceTokenizer.tokenize`: splits `text` on whitespace (Python `str.split()`),
  /// then each word into pieces, and returns the pieces' strings.
  std::vector<std::string> tokenize(std::string_view text) const;

  /// The id of the unknown token.
  std::int32_t unk_id() const noexcept { return unk_id_; }
  /// The longest word, in code points, that is split rather than made unknown.
  int max_input_chars_per_word() const noexcept { return max_chars_; }
  /// The vocabulary.
  const Vocab& vocab() const noexcept { return *vocab_; }

 private:
  std::shared_ptr<const Vocab> vocab_;
  std::string unk_token_;
  // The greedy longest-match-first pieces of a word that is not in the vocabulary whole.
  void split_word(std::string_view word, std::vector<std::int32_t>& ids) const;

  std::int32_t unk_id_;
  int max_chars_;
};

}  // namespace loraft::text
