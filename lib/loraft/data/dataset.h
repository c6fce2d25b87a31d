#pragma once
/// @file
/// @brief A labelled text data set as the readers return it, with a content key of the
/// source files it came from.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "loraft/core/hash.h"

namespace loraft::data {

/// Where one example came from, for messages and for analyses that need more than the text.
struct ExampleMeta {
  /// The source of the example: `train/pos/0_9.txt` (IMDB, relative to the data set root)
  /// or `train.csv:17` (tables; the line the record starts on).
  std::string origin;
  /// The IMDB file id (`0` in `0_9.txt`); -1 for formats without one.
  std::int64_t id = -1;
  /// The IMDB star rating (`9` in `0_9.txt`, 1-10); -1 for formats without one.
  std::int32_t rating = -1;
};

/// Texts with integer labels, in the order the reader defines, plus where they came from.
///
/// `source_sha256` is a key of the raw bytes the texts were read from: the same files give
/// the same key wherever they lie, and any changed byte, added, removed or renamed file
/// changes it. The token cache keys on it (see token_cache.h).
struct Dataset {
  std::string name;                      ///< e.g. `imdb/train`, `ag_news/test`
  std::vector<std::string> texts;        ///< the example texts, UTF-8, bytes as in the source
  std::vector<std::int64_t> labels;      ///< one per text: 0..label_names.size()-1, or -1 (unlabelled)
  std::vector<std::string> label_names;  ///< label id -> name (`neg`, `pos`; `World`, ...)
  std::vector<ExampleMeta> meta;         ///< one per text, or empty when the reader keeps none
  /// SHA-256 over the source files' names (relative to the data set root) and bytes, in
  /// reading order; see SourceDigest.
  std::string source_sha256;
  /// The files read, in reading order (as given to the reader, not canonicalised).
  std::vector<std::filesystem::path> sources;
  /// How the texts and labels were derived from the sources (reader and options), so that
  /// two readings of the same bytes with different options are told apart.
  std::string recipe;

  /// Number of examples.
  std::size_t size() const noexcept { return texts.size(); }
  /// Examples per label id (size label_names.size(); unlabelled examples not counted).
  std::vector<std::int64_t> label_counts() const;
  /// SHA-256 of the texts and labels themselves (not of the files), in order: what the
  /// token cache checks in addition to source_sha256, so that a data set edited after
  /// reading (a subset, a relabelling) never meets another one's cached tokens.
  std::string content_sha256() const;
  /// Throws FormatError if texts, labels and meta disagree in length or a label is out of
  /// range (the invariant every reader establishes).
  void validate() const;
};

/// Builds Dataset::source_sha256: feeds each source file as (name, bytes), in reading
/// order, each as a length-prefixed field so that no two different file sets collide by
/// concatenation. Names use `/` separators and are relative to the data set root, so that
/// moving the data set does not change the key.
class SourceDigest {
 public:
  /// Starts the digest with a format tag (`loraft.data.sources/1`).
  SourceDigest();
  /// Adds one file.
  void add(std::string_view relative_name, std::string_view bytes);
  /// Number of files added.
  std::size_t files() const noexcept { return files_; }
  /// Ends the digest: 64 lower-case hex digits.
  std::string hex();

 private:
  Sha256 sha_;
  std::size_t files_ = 0;
};

/// Throws FormatError `<where>:<line>: invalid UTF-8 at byte <offset> (...)` for the first
/// invalid UTF-8 sequence in `bytes` (a whole file's content; `where` names the file), as
/// Python's strict decoder, which the Hugging Face loaders use, would reject it.
void check_utf8_text(std::string_view bytes, const std::string& where);

/// Parses a decimal integer label as Python's `int()` does for ASCII text: optional
/// surrounding spaces/tabs, an optional sign, digits. False (value untouched) for anything
/// else or on overflow.
bool parse_int64(std::string_view text, std::int64_t& value);

}  // namespace loraft::data
