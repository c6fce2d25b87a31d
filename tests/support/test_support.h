#pragma once
/// @file
/// @brief Helpers shared by the test programs: fixture paths and scratch folders.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace loraft::testing {

/// The project's source folder (for data/ and tests/fixtures/).
std::filesystem::path source_dir();

/// tests/fixtures/<relative>: the golden files made by the Python reference.
std::filesystem::path fixture(const std::string& relative);

/// data/<relative>: the samples and vocab the project ships.
std::filesystem::path data_file(const std::string& relative);

/// A fresh empty folder under the system temp folder, removed when the object dies.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  /// The folder.
  const std::filesystem::path& path() const noexcept { return path_; }
  /// path() / name.
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// The path of a built program of apps/ (e.g. "loraft-tokenize").
std::filesystem::path program(const std::string& name);

/// What a finished child process left.
struct ProcessResult {
  int exit_code = -1;      ///< exit status, or -1 if it did not exit normally
  std::string out;         ///< everything it wrote on stdout
  std::string err;         ///< everything it wrote on stderr
};

/// Runs `argv` (argv[0] is the program path) with `input` on stdin and collects its output.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = "");

/// A program running in the background, for tests of processes that work together (ranks,
/// launchers) or of what a signal does to them. Killed when the object dies, if still running.
class Background {
 public:
  /// Starts `argv` (argv[0] a path) with `environment` ("NAME=value") added to this process's,
  /// stdout and stderr into the files `out` and `err`.
  Background(const std::vector<std::string>& argv, const std::filesystem::path& out,
             const std::filesystem::path& err, const std::vector<std::string>& environment = {});
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  /// Its process id.
  pid_t pid() const noexcept { return pid_; }
  /// waitpid()'s status once it has ended within `limit` seconds, else nothing.
  std::optional<int> wait_for(double limit);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// Polls `done` every 20 ms for up to `limit` seconds; true once it holds.
template <class Condition>
bool wait_until(Condition done, double limit) {
  const auto start = std::chrono::steady_clock::now();
  while (!done()) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > limit) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

/// A file's whole content ("" if it cannot be read).
std::string read_text(const std::filesystem::path& path);

/// Writes `bytes` to `path` (creating parent folders); for tests that build inputs.
void write_text(const std::filesystem::path& path, const std::string& bytes);

}  // namespace loraft::testing
