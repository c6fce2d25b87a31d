#pragma once
/// @file
/// @brief Tokenised data sets cached in HDF5 files named by a content key: reused when
/// nothing that could change the ids changed, rebuilt (never used) when stale or damaged.
///
/// One file per key, `<folder>/<key>.h5`, holding
/// - `input_ids`: int32, every row's ids (`[CLS] ... [SEP]`, truncated, unpadded) back to
///   back; `offsets`: int64, rows + 1 entries, row i is `input_ids[offsets[i]:offsets[i+1]]`;
///   `labels`: int64, one per row. All three are chunked with HDF5's Fletcher-32 filter,
///   so a changed byte in the data fails the read;
/// - root attributes: `format` ("loraft.token_cache"), `format_version`, `key`,
///   `source` (JSON: data set name, source_sha256, content_sha256, recipe, label names,
///   files), `tokenizer` (the fingerprint), `max_length`, `truncation`, `rows`, `tokens`,
///   `content_sha256` (SHA-256 of the three arrays, so that damage the filter cannot see,
///   or a file that lies about its contents, is caught too) and `created_by`.
/// The file starts with a 512-byte HDF5 user block holding the size and SHA-256 of the
/// rest (io::hdf5::seal_file()), checked before HDF5 opens the file, so that no damaged
/// byte ever reaches HDF5's parser. It is written under a temporary name and renamed into
/// place, so a crash never leaves a half-written file under the final name. HDF5 tools
/// (h5py, h5dump) read it like any other file. In h5py:
/// `ids = f["input_ids"][f["offsets"][i]:f["offsets"][i+1]]`.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "loraft/data/batcher.h"
#include "loraft/data/dataset.h"
#include "loraft/text/bert_tokenizer.h"

namespace loraft::data {

/// Version of the cache file layout; part of every key, so a new layout never reads old
/// files (they are simply rebuilt).
inline constexpr std::int64_t kTokenCacheFormatVersion = 1;

/// What the cache needs of a tokenizer: a fingerprint that changes whenever the ids for
/// some text could change, and the encoding of one text. Implementations must be
/// thread-safe (rows are encoded in parallel).
class TextEncoder {
 public:
  virtual ~TextEncoder() = default;
  /// Identifies vocabulary, options and algorithm (see text::BertTokenizer::fingerprint()).
  virtual std::string fingerprint() const = 0;
  /// The ids of `text` with special tokens, truncated to `max_length` when `truncation`,
  /// not padded: `tokenizer(text, truncation=..., max_length=...)["input_ids"]`.
  virtual std::vector<std::int32_t> encode(std::string_view text, int max_length,
                                           bool truncation) const = 0;
};

/// TextEncoder over a text::BertTokenizer (which must outlive it).
class BertTextEncoder final : public TextEncoder {
 public:
  /// Wraps `tokenizer`.
  explicit BertTextEncoder(const text::BertTokenizer& tokenizer) : tokenizer_(tokenizer) {}
  /// text::BertTokenizer::fingerprint().
  std::string fingerprint() const override { return tokenizer_.fingerprint(); }
  /// text::BertTokenizer::encode() without padding.
  std::vector<std::int32_t> encode(std::string_view text, int max_length,
                                   bool truncation) const override;

 private:
  const text::BertTokenizer& tokenizer_;
};

/// The cache folder used when none is given: `$LORAFT_CACHE_DIR/tokens` when that variable
/// is set, else `.cache/loraft/tokens` under the working directory.
std::filesystem::path default_token_cache_folder();

/// How a data set is tokenised and where its cache lives.
struct TokenCacheOptions {
  std::filesystem::path folder = default_token_cache_folder();  ///< created when missing
  int max_length = 128;    ///< tokens per row, [CLS] and [SEP] included
  bool truncation = true;  ///< cut rows to max_length (HF `truncation=True`)
  int threads = 0;         ///< encoding threads; <= 0: loraft::num_threads()
  bool progress = true;    ///< a progress bar while encoding (only on a terminal)
  int deflate_level = 0;   ///< gzip level for the arrays (0: none; 1-9 trade time for space)
};

/// The cache key: SHA-256 over the format version, the data set's source_sha256 and
/// content_sha256(), the tokenizer fingerprint, max_length and truncation.
std::string token_cache_key(const Dataset& dataset, const std::string& tokenizer_fingerprint,
                            const TokenCacheOptions& options);

/// What load_or_build() returns.
struct TokenCacheResult {
  TokenRows rows;                ///< the tokenised rows, labels from the data set
  std::filesystem::path path;    ///< the cache file
  std::string key;               ///< its key (the file name without `.h5`)
  bool hit = false;              ///< true when the file was reused, false when (re)built
  /// Why an existing file under this key was not used (damaged, truncated, wrong
  /// attributes, ...); empty when there was none or it was used.
  std::string rebuilt_because;
  double seconds = 0;            ///< wall time of the call
  /// Number of tokens in all rows.
  std::int64_t tokens() const noexcept { return static_cast<std::int64_t>(rows.ids.size()); }
};

/// The tokenised rows of `dataset`: read from `<folder>/<key>.h5` when it is there and
/// passes every check, else encoded with `encoder` and written there (atomically).
///
/// A file that cannot be used (not HDF5, truncated, missing datasets or attributes, a
/// different key or format version, a checksum failure, rows that disagree with the data
/// set) is reported with loraft::log_warning, rebuilt and replaced; it is never used and
/// never crashes the caller. IoError when the folder cannot be written; errors from the
/// encoder name the example (`imdb/train: train/neg/0_3.txt`).
TokenCacheResult load_or_build(const Dataset& dataset, const TextEncoder& encoder,
                               const TokenCacheOptions& options = {});

/// load_or_build() with a BertTokenizer.
TokenCacheResult load_or_build(const Dataset& dataset, const text::BertTokenizer& tokenizer,
                               const TokenCacheOptions& options = {});

/// Encodes every text of `dataset` (in parallel; the result does not depend on the thread
/// count) into rows with the data set's labels: what a cache miss computes.
TokenRows encode_dataset(const Dataset& dataset, const TextEncoder& encoder, int max_length,
                         bool truncation, int threads = 0, bool progress = false);

/// A cache file's content and attributes, as read_token_cache() returns them.
struct TokenCacheFile {
  TokenRows rows;                  ///< input_ids, offsets, labels
  std::int64_t format_version = 0; ///< `format_version`
  std::string key;                 ///< `key`
  std::string source;              ///< `source` (JSON)
  std::string tokenizer;           ///< `tokenizer` (fingerprint)
  std::int64_t max_length = 0;     ///< `max_length`
  bool truncation = true;          ///< `truncation`
  std::string content_sha256;      ///< `content_sha256`
};

/// Reads and checks a cache file: its seal, HDF5 structure and Fletcher-32 checksums, the `format`
/// tag and version, attribute presence and types, offsets consistent with ids and labels,
/// and content_sha256 against the arrays. FormatError (or IoError) on any failure; the
/// caller compares key and rows with what it expects.
TokenCacheFile read_token_cache(const std::filesystem::path& path);

/// Writes `file` (content_sha256 is computed here) to `path` through a temporary file,
/// sealed, and a rename.
void write_token_cache(const std::filesystem::path& path, const TokenCacheFile& file,
                       int deflate_level = 0);

/// SHA-256 of rows as stored: ids (int32), offsets and labels (int64), little-endian, each
/// array length-prefixed.
std::string token_rows_sha256(const TokenRows& rows);

}  // namespace loraft::data
