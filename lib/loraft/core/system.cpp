#include "loraft/core/system.h"

#include <fcntl.h>
#include <malloc.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include <torch/cuda.h>
#include <torch/version.h>

#include "loraft/core/error.h"
#include "loraft/core/strings.h"

namespace loraft {

namespace {

// The value of `key: value` in a /proc file, or "".
std::string proc_field(const char* file, const std::string& key) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (starts_with(line, key + ":")) {
      auto value = line.substr(key.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  return "";
}

}  // namespace

double peak_rss_mib() {
  const std::string kb = proc_field("/proc/self/status", "VmHWM");  // "123456 kB"
  return kb.empty() ? 0.0 : std::stod(kb) / 1024.0;
}

bool keep_freed_memory() {
#if defined(__GLIBC__)
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, -1) == 1;
#else
  return false;
#endif
}

MachineInfo machine_info() {
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  return MachineInfo{host.data(), proc_field("/proc/cpuinfo", "model name"), std::thread::hardware_concurrency(),
                     proc_field("/proc/meminfo", "MemTotal")};
}

std::string first_output_line(const std::string& command) {
  FILE* pipe = popen((command + " 2>/dev/null").c_str(), "r");
  if (!pipe) return "";
  std::array<char, 512> buffer{};
  std::string out = fgets(buffer.data(), buffer.size(), pipe) ? buffer.data() : "";
  if (pclose(pipe) != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::vector<std::string> environment_with(const std::vector<std::string>& overrides) {
  std::vector<std::string> environment(overrides);
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('=') + 1);
    bool replaced = false;
    for (const auto& own : overrides) replaced = replaced || starts_with(own, name);
    if (!replaced) environment.push_back(entry);
  }
  return environment;
}

ProgramResult run_program(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  if (argv.empty()) throw std::logic_error("run_program: no program");
  std::vector<std::string> environment = environment_with(env);
  auto pointers = [](std::vector<std::string>& strings) {
    std::vector<char*> p;
    for (auto& s : strings) p.push_back(s.data());
    p.push_back(nullptr);
    return p;
  };
  std::vector<std::string> args(argv);
  auto arg_pointers = pointers(args);
  auto env_pointers = pointers(environment);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw IoError(std::string("cannot make a pipe: ") + std::strerror(errno), argv[0]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);  // dup2 clears close-on-exec
  pid_t pid = 0;
  const int error = ::posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, arg_pointers.data(), env_pointers.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (error != 0) {
    ::close(out[0]);
    throw IoError(std::string("cannot start the program: ") + std::strerror(error), argv[0], "an executable file");
  }
  ProgramResult result;
  std::array<char, 4096> buffer{};
  for (ssize_t n; (n = ::read(out[0], buffer.data(), buffer.size())) != 0;) {
    if (n > 0) result.output.append(buffer.data(), static_cast<std::size_t>(n));
    else if (errno != EINTR) break;
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  return result;
}

c10::Device parse_device(const std::string& name) {
  try {
    return c10::Device(name);
  } catch (const c10::Error&) {
    throw ConfigError("unknown device \"" + name + "\"", "device", "cpu, cuda or cuda:N");
  }
}

c10::Device available_device(const std::string& name) {
  const c10::Device device = parse_device(name);
  if (device.is_cuda()) {
    // torch::cuda::device_count() is 0 both for a LibTorch built without CUDA and for a
    // machine without a visible GPU: one message for both, instead of LibTorch's own
    // "not linked with support for cuda devices" deep inside the first copy.
    const auto count = static_cast<std::int64_t>(torch::cuda::device_count());
    if (count == 0)
      throw ConfigError("device \"" + name + "\": no CUDA device (LibTorch " TORCH_VERSION
                        " here was built without CUDA or sees no GPU)",
                        "device", "cpu, or cuda on a machine with an NVIDIA GPU and a CUDA build of LibTorch");
    if (device.has_index() && device.index() >= count)
      throw ConfigError("device \"" + name + "\": only " + std::to_string(count) + " CUDA device(s)", "device",
                        "cuda:0 to cuda:" + std::to_string(count - 1));
  }
  return device;
}

}  // namespace loraft
