#pragma once
/// @file
/// @brief Tokenised rows to model batches: seeded shuffling per epoch, padding to the
/// longest row of the batch or to a fixed length.

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace loraft::data {

/// Tokenised examples as the token cache stores them: each row's ids ([CLS] ... [SEP],
/// unpadded) back to back, with offsets.
struct TokenRows {
  std::vector<std::int32_t> ids;      ///< every row's ids, concatenated
  std::vector<std::int64_t> offsets;  ///< row i is ids[offsets[i], offsets[i + 1]); size rows + 1
  std::vector<std::int64_t> labels;   ///< one label per row

  /// Number of rows.
  std::int64_t size() const { return static_cast<std::int64_t>(labels.size()); }
  /// Length of row i.
  std::int64_t length(std::int64_t i) const { return offsets[i + 1] - offsets[i]; }
  /// Appends one row.
  void push_back(const std::vector<std::int32_t>& row, std::int64_t label);
  /// Throws loraft::FormatError if offsets, ids and labels do not fit together.
  void validate(const std::string& where) const;
};

/// How a batch is padded.
enum class Padding {
  /// To the longest row in the batch: the same logits as fixed padding (padded keys get
  /// weight exactly 0 after the softmax) for a fraction of the work on short texts.
  longest,
  /// To BatchOptions::max_length, as `tokenizer(..., padding="max_length")` does.
  max_length,
};

/// "longest" or "max_length".
const char* to_string(Padding padding);
/// The Padding called `name`; ConfigError naming `where` otherwise.
Padding parse_padding(const std::string& name, const std::string& where);

/// How rows become batches.
struct BatchOptions {
  std::int64_t batch_size = 16;   ///< rows per batch (the last batch may be smaller)
  std::int64_t max_length = 128;  ///< for Padding::max_length; rows must not be longer
  Padding padding = Padding::longest;  ///< see Padding
  bool shuffle = false;           ///< a new seeded permutation each epoch (training)
  bool drop_last = false;         ///< drop a last, smaller batch
  std::uint64_t seed = 0;         ///< shuffling seed; epoch e uses a stream derived from (seed, e)
  std::int32_t pad_id = 0;        ///< id written into padded positions ([PAD])
};

/// One batch, ready for the model.
struct Batch {
  torch::Tensor input_ids;        ///< int64 [B, T]
  torch::Tensor attention_mask;   ///< int64 [B, T], 1 on real tokens
  torch::Tensor labels;           ///< int64 [B]
  std::vector<std::int64_t> rows; ///< which rows of the TokenRows, in batch order
  std::int64_t epoch = 0;         ///< the epoch it belongs to (Batcher)
  std::int64_t position = 0;      ///< where its first row stands in that epoch's order (Batcher)
  /// Rows of the whole batch when this is one rank's part of it (Batcher::part), else its own
  /// rows (also 0 for a batch made by make_batch alone).
  std::int64_t whole_rows = 0;
};

/// The rows of epoch `epoch` in the order they are visited: 0..n-1 without shuffling, else a
/// Fisher-Yates permutation driven by a 64-bit Mersenne Twister seeded from (seed, epoch),
/// written out here so that the order is the same with every standard library.
std::vector<std::int64_t> epoch_order(std::int64_t rows, bool shuffle, std::uint64_t seed,
                                      std::int64_t epoch);

/// Cuts TokenRows into batches. Every batch of every epoch is a pure function of (rows,
/// options, epoch, index), which is what lets a resumed run see exactly the batches an
/// uninterrupted one would.
class Batcher {
 public:
  /// Keeps a reference to `rows` (which must outlive the batcher) and checks the options.
  Batcher(const TokenRows& rows, BatchOptions options);
  /// Batches per epoch.
  std::int64_t num_batches() const;
  /// Batch `index` of epoch `epoch`.
  Batch batch(std::int64_t epoch, std::int64_t index) const;
  /// Part `part` of `parts` of that batch, for data-parallel ranks: its rows
  /// [n x part / parts, n x (part + 1) / parts) in batch order (n its rows; possibly none),
  /// padded on their own. The parts of all ranks together are batch(epoch, index).
  Batch part(std::int64_t epoch, std::int64_t index, std::int64_t part, std::int64_t parts) const;
  /// The options in force.
  const BatchOptions& options() const noexcept { return options_; }

 private:
  const TokenRows& rows_;
  BatchOptions options_;
  mutable std::int64_t cached_epoch_ = -1;
  mutable std::vector<std::int64_t> order_;
};

/// Pads the given rows into one batch (the building block of Batcher::batch).
Batch make_batch(const TokenRows& rows, const std::vector<std::int64_t>& which,
                 Padding padding, std::int64_t max_length, std::int32_t pad_id);

}  // namespace loraft::data
