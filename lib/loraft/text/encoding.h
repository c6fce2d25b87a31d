#pragma once
/// @file
/// @brief Model inputs for one text or text pair: special tokens, truncation, padding.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace loraft::text {

/// How encodings are padded.
enum class Padding {
  none,        ///< no padding: as long as the (possibly truncated) sequence
  max_length,  ///< padded on the right to max_length (`padding="max_length"`)
};

/// What `tokenizer(text, ...)` returns in transformers, as int32 vectors.
///
/// int32 because every BERT vocabulary fits and the token cache stores int32; convert to
/// int64 when a model wants torch.long.
struct Encoding {
  std::vector<std::int32_t> input_ids;       ///< [CLS] A [SEP] (B [SEP]) then [PAD]s
  std::vector<std::int32_t> attention_mask;  ///< 1 for real tokens, 0 for padding
  std::vector<std::int32_t> token_type_ids;  ///< 0 for [CLS] A [SEP], 1 for B [SEP], 0 for padding
  /// Word pieces of the text(s) before truncation, special tokens not counted
  /// (`len(tokenizer.tokenize(text))`); more than fit means the encoding was truncated.
  std::size_t num_wordpieces = 0;

  /// Number of real (unpadded) tokens, special tokens included.
  std::size_t length() const noexcept;
};

/// The ids encode() wraps around the word pieces.
struct SpecialIds {
  std::int32_t cls = 0;  ///< [CLS], first
  std::int32_t sep = 0;  ///< [SEP], after each sequence
  std::int32_t pad = 0;  ///< [PAD], padding
};

/// Builds an Encoding the way transformers' `prepare_for_model` does with
/// `truncation=True` (strategy `longest_first`) and `padding="max_length"` or none.
///
/// Truncation (`truncate_sequences`), when the sequence with its special tokens is longer
/// than max_length:
/// - one sequence: drop pieces from its end; if it cannot lose enough (max_length below 3),
///   HF logs an error and keeps it whole, and so does this;
/// - a pair (`longest_first`): take pieces from the longer sequence until both are equal,
///   then alternately, the second sequence first: HF's closed form of that loop.
///
/// Throws ConfigError when max_length is not positive and truncation or padding needs it.
/// @param first      the pieces of the first text
/// @param second     the pieces of the second text, or nullptr for a single text
/// @param special    the ids of [CLS], [SEP] and [PAD]
/// @param max_length tokens per row, special tokens included
/// @param truncation whether to truncate to max_length (`truncation=True`)
/// @param padding    whether to pad to max_length
Encoding build_encoding(const std::vector<std::int32_t>& first,
                        const std::vector<std::int32_t>* second, const SpecialIds& special,
                        int max_length, bool truncation, Padding padding);

}  // namespace loraft::text
