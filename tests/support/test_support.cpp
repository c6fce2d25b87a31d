#include "support/test_support.h"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <stdexcept>

namespace loraft::testing {
namespace fs = std::filesystem;

fs::path source_dir() { return fs::path(LORAFT_SOURCE_DIR); }

fs::path fixture(const std::string& relative) {
  return source_dir() / "tests" / "fixtures" / relative;
}

fs::path data_file(const std::string& relative) { return source_dir() / "data" / relative; }

ScratchDir::ScratchDir() {
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  path_ = fs::temp_directory_path() /
          ("loraft-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
           std::to_string(rd()));
  fs::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_text(const fs::path& path, const std::string& bytes) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error("cannot write " + path.string());
  out << bytes;
}

}  // namespace loraft::testing
