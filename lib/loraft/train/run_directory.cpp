#include "loraft/train/run_directory.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "loraft/core/error.h"
#include "loraft/core/hash.h"
#include "loraft/core/log.h"
#include "loraft/io/file.h"

namespace loraft::train {
namespace fs = std::filesystem;

std::string RunDirectory::config_hash(const io::Json& config) {
  // nlohmann::json keeps object keys sorted, so dump() is canonical.
  return sha256_hex(config.dump()).substr(0, 16);
}

RunDirectory::RunDirectory(const fs::path& root, const io::Json& config)
    : path_(root / config_hash(config)), hash_(config_hash(config)), config_(config) {
  fs::create_directories(path_);
  const fs::path config_file = path_ / "config.json";
  if (fs::exists(config_file)) {
    io::Json existing = io::read_json(config_file);
    if (existing != config)
      throw FormatError("run folder holds a different configuration", config_file.string(),
                        "the configuration whose hash names the folder");
  } else {
    io::write_file_atomic(config_file, config.dump(2) + "\n");
  }
}

RunLock::RunLock(const RunDirectory& dir) {
  const fs::path file = dir.path() / ".lock";
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError(std::string("cannot open the run lock: ") + std::strerror(errno), file.string());
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    std::string holder = io::read_file(file);
    log_info("waiting for process " + (holder.empty() ? std::string("?") : holder) + ", which is using " +
             dir.path().string());
    int r;
    while ((r = ::flock(fd_, LOCK_EX)) != 0 && errno == EINTR) {
    }
    if (r != 0) {
      const std::string why = std::strerror(errno);
      ::close(fd_);
      throw IoError("cannot lock the run folder: " + why, file.string());
    }
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
    log_warning("could not record this process in " + file.string());
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

void RunDirectory::append_metrics(const io::Json& record) const {
  io::append_line(path_ / "metrics.jsonl", record.dump());
}

std::vector<io::Json> RunDirectory::metrics() const {
  std::vector<io::Json> out;
  const fs::path file = path_ / "metrics.jsonl";
  if (!fs::exists(file)) return out;
  std::string text = io::read_file(file);
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) break;  // no newline: the write was torn
    io::Json j = io::Json::parse(text.begin() + static_cast<long>(pos),
                                 text.begin() + static_cast<long>(end), nullptr, false);
    const std::string at = file.string() + ":" + std::to_string(out.size() + 1);
    if (j.is_discarded() || !j.is_object())
      throw FormatError("malformed metrics record", at, "one JSON object per line");
    // The fields read back (truncate_metrics_after, the run's summary) with the types written.
    if ((j.contains("step") && !j["step"].is_number_integer()) || (j.contains("type") && !j["type"].is_string()) ||
        (j.contains("step_time_s") && !j["step_time_s"].is_number()))
      throw FormatError("metrics record with a mistyped step, type or step_time_s", at,
                        "an integer step, a string type and a number step_time_s");
    out.push_back(std::move(j));
    pos = end + 1;
  }
  return out;
}

void RunDirectory::truncate_metrics_after(std::int64_t step) const {
  std::string kept;
  for (const auto& m : metrics())
    if (!m.contains("step") || m["step"].get<std::int64_t>() <= step) kept += m.dump() + "\n";
  io::write_file_atomic(path_ / "metrics.jsonl", kept);
}

// The integrity record of a finished run: SHA-256 of each file its outputs (final/) hold.
constexpr const char* kOutputChecksums = "output_checksums";

io::Json RunDirectory::write_summary(const io::Json& summary) const {
  io::Json record = summary;
  if (fs::is_directory(path_ / "final")) record[kOutputChecksums] = io::folder_checksums(path_ / "final");
  io::write_file_atomic(path_ / "summary.json", record.dump(2) + "\n");
  return record;
}

std::optional<io::Json> RunDirectory::summary() const {
  const fs::path file = path_ / "summary.json";
  if (!fs::exists(file)) return std::nullopt;
  io::Json record = io::read_json(file);
  if (!record.is_object()) throw FormatError("summary is not a JSON object", file.string(), "a run summary");
  if (record.contains(kOutputChecksums)) {
    const io::Json& sums = record[kOutputChecksums];
    if (!sums.is_object() || !std::all_of(sums.begin(), sums.end(), [](const io::Json& s) { return s.is_string(); }))
      throw FormatError(std::string(kOutputChecksums) + " is not an object of strings", file.string(),
                        "{\"<file below final/>\": \"<sha256>\", ...}");
    const std::string mismatch = io::checksum_mismatch(
        path_ / "final", sums.get<std::map<std::string, std::string>>());
    if (!mismatch.empty()) {
      log_warning("finished run " + path_.string() + " is damaged (final/" + mismatch + "): it runs again");
      return std::nullopt;
    }
  }
  return record;
}

}  // namespace loraft::train
