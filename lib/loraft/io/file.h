#pragma once
/// @file
/// @brief Whole-file reads and atomic writes (temporary file + rename).

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

namespace loraft::io {

/// Reads a whole file as bytes. Throws IoError naming the path if it cannot.
std::string read_file(const std::filesystem::path& path);

/// A temporary sibling path for writing `target` atomically: `<target>.tmp.<pid>.<n>`,
/// in the same folder so that the final rename stays on one file system.
std::filesystem::path temporary_path_for(const std::filesystem::path& target);

/// Moves `from` over `to` in one step (POSIX rename), after flushing `from` to disk.
/// Readers see either the old or the new file, never a partial one.
void commit_file(const std::filesystem::path& from, const std::filesystem::path& to);

/// Puts the folder `from` (complete, on the same file system) in the place of `to`: if `to`
/// exists, the two are exchanged in one step (Linux renameat2 RENAME_EXCHANGE) and the old
/// contents removed; otherwise `from` is renamed. Readers of `to` see the old folder or the new
/// one, never a mix. IoError if `to` is a file or the rename fails.
void commit_folder(const std::filesystem::path& from, const std::filesystem::path& to);

/// SHA-256 (hex) of every regular file below `folder`, keyed by its path relative to `folder`
/// ("adapter_model.safetensors", "sub/x.json"): a folder's integrity record.
std::map<std::string, std::string> folder_checksums(const std::filesystem::path& folder);

/// The first file of `recorded` (from folder_checksums) that is missing below `folder` or has
/// other bytes now, as "<file>: missing" or "<file>: checksum mismatch"; "" when all match. A
/// recorded name that is absolute or leads out of `folder` counts as missing and is not read.
std::string checksum_mismatch(const std::filesystem::path& folder,
                              const std::map<std::string, std::string>& recorded);

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename); creates the
/// parent folder if needed.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

/// Appends one line (a `\n` is added) to `path` and flushes it to disk, so that an
/// interrupted program loses at most the line being written.
void append_line(const std::filesystem::path& path, std::string_view line);

/// Removes a temporary file when it goes out of scope unless release() was called: the
/// guard for writers that may throw half-way.
class TemporaryFile {
 public:
  /// Picks a temporary path next to `target`.
  explicit TemporaryFile(const std::filesystem::path& target);
  ~TemporaryFile();
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;

  /// The temporary path to write to.
  const std::filesystem::path& path() const noexcept { return tmp_; }
  /// Renames the temporary file over the target (see commit_file()).
  void commit();

 private:
  std::filesystem::path target_, tmp_;
  bool committed_ = false;
};

}  // namespace loraft::io
