#pragma once
/// @file
/// @brief The WordPiece vocabulary (vocab.txt): one token per line, id = line index.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "loraft/text/token_map.h"

namespace loraft::text {

/// A WordPiece vocabulary as transformers' `load_vocab` (models/bert/tokenization_bert.py)
/// reads it.
///
/// Reading rules, all from `load_vocab`: the file is decoded as strict UTF-8 (a byte-order
/// mark stays part of the first token); lines end at `\n`, `\r\n` or `\r` (Python's
/// universal newlines); the id of a token is its line index; an empty line is the token "";
/// a token that appears on several lines maps to its **last** line, because `load_vocab`
/// fills a dict line by line.
class Vocab {
 public:
  /// Reads `path`. Throws IoError if it cannot be read, FormatError (naming the line) if it
  /// is not UTF-8.
  static Vocab load(const std::filesystem::path& path);

  /// Parses vocab.txt content; `source` names it in errors.
  static Vocab parse(std::string_view content, const std::string& source = "vocab");

  /// Number of ids, i.e. of lines (a duplicated token still uses one id per line).
  std::size_t size() const noexcept { return offsets_.size() - 1; }

  /// Number of distinct tokens (`len(load_vocab(...))`, HF's `vocab_size`).
  std::size_t distinct_size() const noexcept { return map_.size(); }

  /// The id of `token` (its last line), or -1 when it is not in the vocabulary.
  std::int32_t find(std::string_view token) const noexcept { return map_.find(token); }

  /// The token -> id map itself (for batched lookups with prefetching).
  const TokenMap& map() const noexcept { return map_; }

  /// The id of `"##" + rest` without building that string, or -1.
  std::int32_t find_continuation(std::string_view rest) const noexcept {
    return continuation_.find(rest);
  }

  /// True when `token` is in the vocabulary.
  bool contains(std::string_view token) const noexcept { return find(token) >= 0; }

  /// The id of `token`; throws ConfigError when it is missing (for required tokens such
  /// as [CLS]).
  std::int32_t id(std::string_view token) const;

  /// The text of line `id`. Throws ConfigError when `id` is out of range. (For a duplicated
  /// token's earlier line this is still that line's text, where HF's `ids_to_tokens` has no
  /// entry and answers the unknown token.)
  std::string_view token(std::int32_t id) const;

  /// Longest token in bytes; no longer string can be in the vocabulary.
  std::size_t max_token_size() const noexcept { return map_.max_key_size(); }

  /// Longest `rest` of a `##rest` token in bytes.
  std::size_t max_continuation_size() const noexcept { return continuation_.max_key_size(); }

  /// SHA-256 of the file's bytes (64 hex digits): what identifies the vocabulary in caches.
  const std::string& sha256() const noexcept { return sha256_; }

  /// Where it came from (the path, or parse()'s `source`).
  const std::string& source() const noexcept { return source_; }

 private:
  Vocab() = default;

  std::string text_;                       // all tokens back to back
  std::vector<std::uint32_t> offsets_{0};  // token i is text_[offsets_[i], offsets_[i + 1])
  TokenMap map_;                        // token -> id
  TokenMap continuation_;               // rest -> id of "##rest"
  std::string sha256_;
  std::string source_;
};

}  // namespace loraft::text
