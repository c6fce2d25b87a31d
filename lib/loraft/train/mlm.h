#pragma once
/// @file
/// @brief The pieces of masked-language-model pretraining as Hugging Face's `run_mlm.py`
/// and `DataCollatorForLanguageModeling` (transformers 4.46.3) define them: texts grouped
/// into fixed-length blocks, the 15% / 80-10-10 masking, the loss on masked positions only,
/// held-out loss and perplexity, and the unigram baseline that perplexity is judged against.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "loraft/data/batcher.h"
#include "loraft/data/token_cache.h"
#include "loraft/io/json.h"
#include "loraft/model/distilbert.h"
#include "loraft/text/bert_tokenizer.h"

namespace loraft::train {

/// Fixed-length blocks of token ids cut from a stream of tokenised texts, with the special
/// tokens mask that `tokenizer(..., return_special_tokens_mask=True)` carries through
/// `group_texts` (1 where the tokenizer added [CLS] or [SEP], 0 on text tokens, even on a
/// text token that happens to be [UNK]).
struct MlmBlocks {
  std::int64_t block_size = 128;      ///< tokens per block
  std::vector<std::int32_t> ids;      ///< block i is ids[i * block_size, (i + 1) * block_size)
  std::vector<std::uint8_t> special;  ///< same layout: 1 on tokenizer-added special tokens
  /// Same layout: 1 on padding (attention mask 0; padding is also marked special). Empty when
  /// no block is padded, as group_texts() blocks never are.
  std::vector<std::uint8_t> padding;

  /// Number of blocks.
  std::int64_t size() const {
    return block_size > 0 ? static_cast<std::int64_t>(ids.size()) / block_size : 0;
  }
  /// Appends every block of `other` (same block_size; ConfigError otherwise).
  void append(const MlmBlocks& other);
  /// The given blocks as tensors: input_ids int64 [n, block_size] and the special tokens
  /// mask as bool [n, block_size].
  std::pair<torch::Tensor, torch::Tensor> tensors(const std::vector<std::int64_t>& which) const;
  /// The attention mask of the given blocks: int64 [n, block_size], 0 on padding.
  torch::Tensor attention_mask(const std::vector<std::int64_t>& which) const;

 private:
  /// Where block `block` starts in ids; ConfigError when it is not a block.
  std::size_t offset(std::int64_t block) const;
};

/// `group_texts` of transformers' examples/pytorch/language-modeling/run_mlm.py (the
/// default, not `--line_by_line`): each row is a text tokenised with its special tokens
/// (`[CLS] ... [SEP]`, untruncated, as `tokenize_function` calls
/// `tokenizer(examples[text_column_name], return_special_tokens_mask=True)`); the rows are
/// concatenated (`list(chain(*examples[k]))`) and cut into blocks of `block_size`, dropping
/// the remainder (`total_length = (total_length // max_seq_length) * max_seq_length`).
/// run_mlm applies it through `datasets.map(batched=True)`, whose default batch is 1000
/// rows, so the remainder is dropped per group of `map_batch_size` rows; 0 groups all rows
/// at once. Rows must start and end with a special token, which is how the mask is known.
MlmBlocks group_texts(const data::TokenRows& rows, std::int64_t block_size = 128,
                      std::int64_t map_batch_size = 1000);

/// run_mlm.py with `--line_by_line --pad_to_max_length`: each text is one block of its own,
/// as `tokenizer(texts, padding="max_length", truncation=True, max_length=max_seq_length,
/// return_special_tokens_mask=True)` makes it: `[CLS]`, the text's first `block_size - 2`
/// tokens, `[SEP]`, then `pad_id` up to `block_size` (padding is special and has attention
/// mask 0). Empty texts (rows of just `[CLS] [SEP]`) are dropped, as run_mlm drops empty
/// and blank lines. So every block starts with `[CLS]` at position 0, as fine-tuning inputs
/// do. (Dynamic padding, run_mlm's default, gives the same losses: padding is never scored
/// and never attended to.) Rows must start and end with a special token.
MlmBlocks line_by_line(const data::TokenRows& rows, std::int64_t block_size, std::int32_t pad_id);

/// A corpus split as run_mlm.py splits a data set without a validation split:
/// `validation = train[:p%]`, `train = train[p%:]` (`validation_split_percentage`, default
/// 5), with the boundary `round(p * n / 100)` as `datasets` computes percent slices
/// (Python's round, half to even).
struct CorpusSplit {
  data::TokenRows train;    ///< rows from the boundary on
  data::TokenRows heldout;  ///< the first rows
};

/// Splits `rows` as described at CorpusSplit.
CorpusSplit split_validation(const data::TokenRows& rows, double percent = 5.0);

/// Throws ConfigError (naming `where`) when `dataset_name` (a Dataset::name such as
/// `imdb/test`, `ag_news/test`, `imdb/test[500@1]`) names a test split: a pretraining corpus
/// that saw test rows would leak them into every later fine-tuning comparison.
void check_not_test_split(const std::string& dataset_name, const std::string& where);

/// How run_mlm.py turns a data set into training examples.
struct MlmDataOptions {
  std::int64_t block_size = 128;      ///< `max_seq_length`: tokens per block
  std::int64_t map_batch_size = 1000; ///< texts grouped at a time by group_texts() (0: all)
  bool line_by_line = false;          ///< one padded block per text (line_by_line()) instead
  double validation_percent = 5.0;    ///< share of each source held out (its first rows)
};

/// One source of a pretraining corpus, prepared as run_mlm.py prepares a data set.
struct MlmSource {
  MlmBlocks train;    ///< blocks of the training part
  MlmBlocks heldout;  ///< blocks of the held-out part (the source's first rows)
  io::Json identity;  ///< name, source_sha256, content_sha256, texts, tokens
  bool cached = false;  ///< the token cache already held the tokenised texts
};

/// Reads the data set `spec` names (data::parse_dataset_spec() forms; test splits refused),
/// tokenises every text whole with its special tokens through the token cache in
/// `cache_folder` (no truncation, as run_mlm's `tokenize_function`), splits it with
/// split_validation(`options.validation_percent`) and makes blocks of both parts with
/// group_texts() or line_by_line(). Errors name `where` (a flag, a file).
MlmSource prepare_mlm_source(const std::string& spec, const text::BertTokenizer& tokenizer,
                             const std::filesystem::path& cache_folder, const MlmDataOptions& options,
                             const std::string& where);

/// The collator's settings (`DataCollatorForLanguageModeling(tokenizer, mlm_probability)`).
struct MaskingOptions {
  double mlm_probability = 0.15;     ///< share of non-special positions selected
  std::int64_t mask_token_id = 103;  ///< [MASK] (103 in bert-base-uncased)
  std::int64_t vocab_size = 30522;   ///< `len(tokenizer)`: range of the random replacements
};

/// A batch ready for the MLM loss.
struct MaskedBatch {
  torch::Tensor input_ids;       ///< int64 [B, T], with [MASK] and random tokens put in
  torch::Tensor attention_mask;  ///< int64 [B, T], 1 on real tokens
  torch::Tensor labels;          ///< int64 [B, T]: the original id where selected, else -100
  /// bool [B, T]: true on special tokens and padding (never selected), false on the text.
  torch::Tensor special_tokens_mask;
};

/// `DataCollatorForLanguageModeling.torch_mask_tokens` (transformers 4.46.3,
/// data/data_collator.py), draw for draw, from `generator`:
/// @code
///   probability_matrix = full(shape, mlm_probability); masked_fill_(special, 0)
///   masked = bernoulli(probability_matrix);            labels[~masked] = -100
///   replaced = bernoulli(full(shape, 0.8)) & masked;   inputs[replaced] = [MASK]
///   random = bernoulli(full(shape, 0.5)) & masked & ~replaced
///   inputs[random] = randint(len(tokenizer), shape)[random]   (the rest stay unchanged)
/// @endcode
/// Positions with attention_mask 0 count as special, as `tokenizer.pad` marks padding in
/// the special tokens mask, so padding is never selected. `attention_mask` may be undefined
/// (all real). Inputs are not modified.
MaskedBatch mask_tokens(const torch::Tensor& input_ids, const torch::Tensor& special_tokens_mask,
                        const torch::Tensor& attention_mask, const MaskingOptions& options,
                        at::Generator& generator);

/// The seed of block `block`'s masking in epoch `epoch` of a run seeded `seed` (a
/// SplitMix64 mix of the three). Masking each block from its own seed makes it a pure
/// function of (seed, epoch, block): independent of the batch size and the batch a block
/// lands in, and exactly reproduced after a resume. (HF draws from one global stream per
/// batch; the distribution is the same.)
std::uint64_t masking_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t block);

/// Blocks `which` of `blocks`, each masked by mask_tokens() from a generator seeded with
/// masking_seed(seed, epoch, block).
MaskedBatch masked_batch(const MlmBlocks& blocks, const std::vector<std::int64_t>& which,
                         const MaskingOptions& options, std::uint64_t seed, std::int64_t epoch);

/// Mean cross-entropy over the masked positions (labels != -100) of `batch`: what
/// `DistilBertForMaskedLM.forward(labels=...)` returns (`CrossEntropyLoss()` ignores -100
/// and averages over the rest); the vocabulary projection runs only at those positions. A
/// batch without any masked position gives 0 (HF would give NaN), still connected to the
/// graph so that backward() works. Same as pretraining_loss(model, batch, 0).mlm.
torch::Tensor mlm_loss(model::DistilBertForMaskedLM& model, const MaskedBatch& batch);

/// The terms of one pretraining step's loss.
struct PretrainingLoss {
  torch::Tensor mlm;      ///< mlm_loss()
  torch::Tensor cls_bow;  ///< the [CLS] bag-of-words loss (undefined when its weight is 0)
  torch::Tensor total;    ///< mlm + weight * cls_bow: what the step minimises
};

/// mlm_loss() plus, when `cls_bow_weight` > 0, a [CLS] bag-of-words loss from the same
/// encoder pass: the MLM head applied to each block's final state at position 0 (the [CLS]
/// of line_by_line() blocks; classification reads the same position) gives a distribution
/// over the vocabulary, scored by its mean cross-entropy with the block's own text (every
/// position that is not special or padding, at its original id, repeats counted), then
/// averaged over the blocks that have text. This is not run_mlm's
/// objective: MLM never scores the [CLS] state (special tokens are never selected), so a
/// small encoder's [CLS], which sequence classification reads, ends pretraining as no summary
/// of the text. The extra term trains it to be one (Condenser, Gao and Callan 2021, makes the
/// same point and forces [CLS] into the MLM head's input; this is the simplest such target).
/// Labels are never used.
PretrainingLoss pretraining_loss(model::DistilBertForMaskedLM& model, const MaskedBatch& batch,
                                 double cls_bow_weight);

/// Held-out MLM quality.
struct MlmEvalResult {
  double loss = 0.0;               ///< mean cross-entropy per masked token (nats)
  double perplexity = 0.0;         ///< exp(loss)
  std::int64_t masked_tokens = 0;  ///< tokens scored
  std::int64_t blocks = 0;         ///< blocks evaluated
};

/// Evaluates `model` (eval mode, no gradients) on every block of `blocks`, masked with
/// masked_batch(..., seed, epoch = 0): the same positions and replacements at every call,
/// so numbers from different epochs (and from a reloaded checkpoint) are comparable. The
/// loss is the mean over all masked tokens of the set (not the mean of per-batch means,
/// which the HF Trainer reports), so it does not depend on `batch_size`.
MlmEvalResult evaluate_mlm(model::DistilBertForMaskedLM& model, const MlmBlocks& blocks,
                           std::int64_t batch_size, const MaskingOptions& options,
                           std::uint64_t seed, const torch::Device& device = torch::kCPU);

/// The perplexity a model without context would reach: each masked held-out token (the
/// positions and originals of evaluate_mlm() with the same seed) predicted by its frequency
/// among the non-special tokens of `train`, with add-one smoothing over the vocabulary.
MlmEvalResult unigram_baseline(const MlmBlocks& train, const MlmBlocks& heldout,
                               const MaskingOptions& options, std::uint64_t seed);

}  // namespace loraft::train
