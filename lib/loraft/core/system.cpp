#include "loraft/core/system.h"

#include <fstream>

#include <torch/cuda.h>
#include <torch/version.h>

#include "loraft/core/error.h"
#include "loraft/core/strings.h"

namespace loraft {

double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (starts_with(line, "VmHWM:")) return std::stod(line.substr(6)) / 1024.0;
  return 0.0;
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
