#pragma once
/// @file
/// @brief Helpers shared by the test programs: fixture paths and scratch folders.

#include <filesystem>
#include <string>
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

/// Writes `bytes` to `path` (creating parent folders); for tests that build inputs.
void write_text(const std::filesystem::path& path, const std::string& bytes);

}  // namespace loraft::testing
