#pragma once
/// @file
/// @brief The Hugging Face-exact BERT tokenizer: text to input_ids, attention_mask and
/// token_type_ids.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loraft/text/basic_tokenizer.h"
#include "loraft/text/encoding.h"
#include "loraft/text/vocab.h"
#include "loraft/text/wordpiece_tokenizer.h"

namespace loraft::text {

/// Options of BertTokenizer; the defaults are `BertTokenizer(vocab, do_lower_case=True)`.
struct BertTokenizerOptions {
  bool do_lower_case = true;            ///< lower-case the text (uncased models)
  bool tokenize_chinese_chars = true;   ///< each CJK ideograph is a word
  std::optional<bool> strip_accents;    ///< unset: strip when lower-casing (HF's None)
  int max_input_chars_per_word = 100;   ///< longer words become [UNK]
  std::string unk_token = "[UNK]";      ///< unknown word
  std::string sep_token = "[SEP]";      ///< ends each sequence
  std::string pad_token = "[PAD]";      ///< padding
  std::string cls_token = "[CLS]";      ///< starts the input
  std::string mask_token = "[MASK]";    ///< masked-LM placeholder
};

/// transformers 4.46.3's slow `BertTokenizer`, giving identical tokens and ids for any
/// UTF-8 text.
///
/// tokenize() follows `PreTrainedTokenizer.tokenize`: special tokens written literally in
/// the text (`[CLS]`, `[SEP]`, `[PAD]`, `[MASK]`, `[UNK]`, exactly in that case) are cut out
/// first and kept as themselves; every other piece of text goes through BasicTokenizer and
/// WordpieceTokenizer. encode() and encode_pair() add `[CLS]`/`[SEP]`, truncate and pad
/// as `tokenizer(text, truncation=True, max_length=..., padding="max_length")` does.
///
/// Invalid UTF-8 is rejected with a FormatError naming the byte offset (HF only ever sees
/// valid Python strings). Every method is const and thread-safe.
class BertTokenizer {
 public:
  /// A tokenizer over `vocab`. Throws ConfigError if a special token is not in the
  /// vocabulary, or if lower-casing could turn text into a special token (a special token
  /// without a character that lower-casing changes), a case the exact special-token
  /// splitting here does not cover.
  explicit BertTokenizer(std::shared_ptr<const Vocab> vocab, BertTokenizerOptions options = {});

  /// Loads vocab.txt and builds the tokenizer (IoError/FormatError for a bad file).
  static BertTokenizer from_file(const std::filesystem::path& vocab_file,
                                 BertTokenizerOptions options = {});

  /// The word pieces of `text` (`tokenizer.tokenize(text)`), no [CLS]/[SEP] added.
  std::vector<std::string> tokenize(std::string_view text) const;

  /// The ids of tokenize(text), no [CLS]/[SEP] added; appended to `ids`.
  void append_token_ids(std::string_view text, std::vector<std::int32_t>& ids) const;

  /// The ids of tokenize(text), no [CLS]/[SEP] added.
  std::vector<std::int32_t> token_ids(std::string_view text) const;

  /// `tokenizer(text, truncation=truncation, max_length=max_length, padding=...)`.
  Encoding encode(std::string_view text, int max_length = 128, bool truncation = true,
                  Padding padding = Padding::max_length) const;

  /// `tokenizer(a, b, truncation=truncation, max_length=max_length, padding=...)`, with
  /// `longest_first` truncation and token_type_ids 0 for `[CLS] a [SEP]`, 1 for `b [SEP]`.
  Encoding encode_pair(std::string_view a, std::string_view b, int max_length = 128,
                       bool truncation = true, Padding padding = Padding::max_length) const;

  /// encode() of every text, spread over `threads` threads (loraft::num_threads() when
  /// <= 0) with loraft::parallel_for; the result is the same as encoding one by one. A
  /// FormatError names the index of the bad text (`texts[17]`).
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts, int max_length = 128,
                                     bool truncation = true, Padding padding = Padding::max_length,
                                     int threads = 0) const;

  /// A string that changes whenever the ids for some text could change: the vocabulary's
  /// SHA-256, every option, the special tokens, the Unicode versions and an algorithm
  /// version. Caches of encoded text key on it (compact JSON, deterministic).
  std::string fingerprint() const;

  /// The vocabulary.
  const Vocab& vocab() const noexcept { return *vocab_; }
  /// The options in force.
  const BertTokenizerOptions& options() const noexcept { return options_; }
  /// Id of [CLS].
  std::int32_t cls_id() const noexcept { return special_.cls; }
  /// Id of [SEP].
  std::int32_t sep_id() const noexcept { return special_.sep; }
  /// Id of [PAD].
  std::int32_t pad_id() const noexcept { return special_.pad; }
  /// Id of [UNK].
  std::int32_t unk_id() const noexcept { return wordpiece_.unk_id(); }
  /// Id of [MASK].
  std::int32_t mask_id() const noexcept { return mask_id_; }

 private:
  struct Special {
    std::string text;
    std::int32_t id;
  };

  std::shared_ptr<const Vocab> vocab_;
  BertTokenizerOptions options_;
  std::vector<Special> specials_;  // HF's all_special_tokens order: UNK SEP PAD CLS MASK
  bool special_first_byte_[256] = {};
  int single_first_byte_ = -1;  // the first byte all special tokens share ('['), or -1
  BasicTokenizer basic_;
  WordpieceTokenizer wordpiece_;
  SpecialIds special_;
  std::int32_t mask_id_;
};

}  // namespace loraft::text
