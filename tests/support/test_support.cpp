#include "support/test_support.h"

#include "loraft/core/system.h"

#include <fcntl.h>
#include <signal.h>
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
  r.out = read_text(io / "out");
  r.err = read_text(io / "err");
  return r;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Background::Background(const std::vector<std::string>& args, const fs::path& out, const fs::path& err,
                       const std::vector<std::string>& environment) {
  // Everything the child needs is built before fork(): between fork and exec only
  // async-signal-safe calls.
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_text = environment_with(environment);
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out_fd < 0 || err_fd < 0) throw std::runtime_error("cannot open " + out.string() + " or " + err.string());
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  if (pid_ < 0) throw std::runtime_error("fork failed");
}

Background::~Background() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::optional<int> Background::wait_for(double limit) {
  wait_until([this] {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
    return status_.has_value();
  }, limit);
  return status_;
}

void write_text(const fs::path& path, const std::string& bytes) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error("cannot write " + path.string());
  out << bytes;
}

}  // namespace loraft::testing
