#pragma once
/// @file
/// @brief Run records: one folder per fully resolved configuration, holding what the run did.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "loraft/io/json.h"

namespace loraft::train {

/// The folder of one run, named by the hash of its full resolved configuration, so that the
/// same configuration always lands in the same folder and a finished run can be reused:
/// @code
///   <root>/<hash16>/config.json      the resolved configuration (written once)
///   <root>/<hash16>/metrics.jsonl    one JSON object per step and per evaluation
///   <root>/<hash16>/summary.json     written atomically when the run finishes
///   <root>/<hash16>/checkpoints/     atomic checkpoints for resume
/// @endcode
class RunDirectory {
 public:
  /// Opens (creating if needed) the folder for `config` under `root`. If config.json already
  /// exists it must equal `config` (a hash collision or a hand-edited folder is an error).
  RunDirectory(const std::filesystem::path& root, const io::Json& config);

  /// The hash that names the folder: the first 16 hex digits of the SHA-256 of the canonical
  /// JSON (sorted keys, no spaces) of the configuration.
  static std::string config_hash(const io::Json& config);

  /// The folder.
  const std::filesystem::path& path() const noexcept { return path_; }
  /// config_hash() of this run's configuration.
  const std::string& hash() const noexcept { return hash_; }
  /// The configuration.
  const io::Json& config() const noexcept { return config_; }
  /// Where checkpoints go.
  std::filesystem::path checkpoint_dir() const { return path_ / "checkpoints"; }

  /// Appends one record to metrics.jsonl (flushed, so a crash loses at most this line).
  void append_metrics(const io::Json& record) const;
  /// Every complete record of metrics.jsonl; a torn last line (a crash mid-write) is ignored.
  std::vector<io::Json> metrics() const;
  /// Keeps only the records whose `step` is at most `step` (used when resuming from a
  /// checkpoint taken at that step, so that replayed steps are not recorded twice).
  void truncate_metrics_after(std::int64_t step) const;

  /// Writes summary.json atomically, with the SHA-256 of every file below final/ under
  /// `output_checksums`; from then on the run counts as finished. Returns what it wrote.
  io::Json write_summary(const io::Json& summary) const;
  /// summary.json if the run finished and its outputs (final/) still have the bytes recorded
  /// then; a damaged finished run counts as unfinished (said in the log), so that it runs again.
  std::optional<io::Json> summary() const;

 private:
  std::filesystem::path path_;
  std::string hash_;
  io::Json config_;
};

/// One process at a time in a run folder: an exclusive flock on `<folder>/.lock`, which holds
/// the owner's pid. A second process on the same configuration (two `loraft-train` commands,
/// two `make paper`) says which process it waits for and waits, then finds the run finished
/// and reuses it, or resumes it; records are never written by two processes at once. The
/// kernel drops the lock when its process dies, so a killed run leaves no stale lock.
class RunLock {
 public:
  /// Takes the lock of `dir`, waiting while another process holds it.
  explicit RunLock(const RunDirectory& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace loraft::train
