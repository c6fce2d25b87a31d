#include "support/test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <cstdlib>
#include <iterator>
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

fs::path program(const std::string& name) { return fs::path(LORAFT_BINARY_DIR) / "apps" / name; }

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input) {
  // Files rather than pipes: no deadlock however much the child writes.
  ScratchDir io;
  write_text(io / "in", input);
  std::string cmd;
  for (const auto& a : argv) {
    std::string q = "'";
    for (char c : a) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
    cmd += q + "' ";
  }
  cmd += "<'" + (io / "in").string() + "' >'" + (io / "out").string() + "' 2>'" +
         (io / "err").string() + "'";
  int status = std::system(cmd.c_str());
  ProcessResult r;
  r.exit_code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  r.out = slurp(io / "out");
  r.err = slurp(io / "err");
  return r;
}

void write_text(const fs::path& path, const std::string& bytes) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error("cannot write " + path.string());
  out << bytes;
}

}  // namespace loraft::testing
