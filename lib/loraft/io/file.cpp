#include "loraft/io/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <system_error>

#include "loraft/core/error.h"
#include "loraft/core/hash.h"

namespace loraft::io {
namespace fs = std::filesystem;

namespace {

void fsync_path(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!fs::exists(path)) throw IoError("file not found", path.string(), "an existing file");
    throw IoError("cannot open file", path.string(), "a readable file");
  }
  std::string bytes;
  in.seekg(0, std::ios::end);
  auto size = in.tellg();
  if (size < 0) throw IoError("cannot determine the file size", path.string());
  bytes.resize(static_cast<std::size_t>(size));
  in.seekg(0, std::ios::beg);
  in.read(bytes.data(), size);
  if (!in) throw IoError("read error", path.string());
  return bytes;
}

fs::path temporary_path_for(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  fs::path tmp = target;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  return tmp;
}

void commit_file(const fs::path& from, const fs::path& to) {
  fsync_path(from);
  if (std::rename(from.c_str(), to.c_str()) != 0)
    throw IoError(std::string("cannot rename into place: ") + std::strerror(errno), to.string());
  if (to.has_parent_path()) fsync_path(to.parent_path());
}

void commit_folder(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  const auto status = fs::symlink_status(to, ec);
  if (fs::exists(status) && !fs::is_directory(status))
    throw IoError("is a file, not a folder", to.string(), "a folder path (created if missing)");
  if (fs::exists(status)) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) == 0) {
      fs::remove_all(from);  // now the old contents
    } else if (errno == EINVAL || errno == ENOSYS) {
      // A file system without exchange: the old folder steps aside first (a moment without
      // `to`, never a mixed folder).
      const fs::path old = temporary_path_for(to);
      if (std::rename(to.c_str(), old.c_str()) != 0 || std::rename(from.c_str(), to.c_str()) != 0)
        throw IoError(std::string("cannot rename into place: ") + std::strerror(errno), to.string());
      fs::remove_all(old);
    } else {
      throw IoError(std::string("cannot exchange folders: ") + std::strerror(errno), to.string());
    }
  } else if (std::rename(from.c_str(), to.c_str()) != 0) {
    throw IoError(std::string("cannot rename into place: ") + std::strerror(errno), to.string());
  }
  if (to.has_parent_path()) fsync_path(to.parent_path());
}

std::map<std::string, std::string> folder_checksums(const fs::path& folder) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(folder))
    if (e.is_regular_file()) out[fs::relative(e.path(), folder).generic_string()] = sha256_file(e.path());
  return out;
}

std::string checksum_mismatch(const fs::path& folder, const std::map<std::string, std::string>& recorded) {
  for (const auto& [file, sum] : recorded) {
    // A record names files below `folder`: any other path (absolute, "..", too long for the
    // file system) counts as missing rather than being read.
    const fs::path relative = fs::path(file).lexically_normal();
    if (file.empty() || relative.is_absolute() || *relative.begin() == "..") return file + ": missing";
    const fs::path path = folder / relative;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return file + ": missing";
    if (sha256_file(path) != sum) return file + ": checksum mismatch";
  }
  return "";
}

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  TemporaryFile tmp(path);
  {
    std::ofstream out(tmp.path(), std::ios::binary | std::ios::trunc);
    if (!out) throw IoError("cannot create file", tmp.path().string(), "a writable folder");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw IoError("write error (disk full?)", tmp.path().string());
  }
  tmp.commit();
}

void append_line(const fs::path& path, std::string_view line) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) throw IoError(std::string("cannot open for appending: ") + std::strerror(errno),
                            path.string());
  std::string buf(line);
  buf.push_back('\n');
  // One write() of the whole line: with O_APPEND it lands contiguously at the end.
  ssize_t n = ::write(fd, buf.data(), buf.size());
  int err = errno;
  ::fsync(fd);
  ::close(fd);
  if (n != static_cast<ssize_t>(buf.size()))
    throw IoError(std::string("append failed: ") + std::strerror(err), path.string());
}

TemporaryFile::TemporaryFile(const fs::path& target)
    : target_(target), tmp_(temporary_path_for(target)) {}

TemporaryFile::~TemporaryFile() {
  if (!committed_) {
    std::error_code ec;
    fs::remove(tmp_, ec);
  }
}

void TemporaryFile::commit() {
  commit_file(tmp_, target_);
  committed_ = true;
}

}  // namespace loraft::io
