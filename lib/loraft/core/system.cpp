#include "loraft/core/system.h"

#include <unistd.h>

#include <array>
#include <cstdio>
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
