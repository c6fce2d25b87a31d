#include "loraft/train/precision.h"

#include <ATen/autocast_mode.h>

#include "loraft/core/error.h"

namespace loraft::train {

const char* to_string(Autocast autocast) {
  switch (autocast) {
    case Autocast::none: return "none";
    case Autocast::bf16: return "bf16";
    case Autocast::fp16: return "fp16";
  }
  return "?";
}

Autocast parse_autocast(const std::string& name, const std::string& where) {
  if (name == "none") return Autocast::none;
  if (name == "bf16") return Autocast::bf16;
  if (name == "fp16") return Autocast::fp16;
  throw ConfigError("unknown autocast \"" + name + "\"", where, "none, bf16 or fp16");
}

void check_autocast(Autocast autocast, const torch::Device& device) {
  if (autocast == Autocast::fp16 && !device.is_cuda())
    throw ConfigError("fp16 autocast needs a CUDA device, the run's device is " + device.str(),
                      "autocast", "bf16 on the CPU, or fp16 with device cuda");
}

namespace {

// LibTorch 2.4 made the autocast state per device type; before, CPU and CUDA had their own
// functions (torch 1.13: at::autocast::set_enabled / set_cpu_enabled).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(torch::DeviceType t) { return at::autocast::is_autocast_enabled(t); }
void set_autocast(torch::DeviceType t, bool on) { at::autocast::set_autocast_enabled(t, on); }
at::ScalarType autocast_dtype(torch::DeviceType t) { return at::autocast::get_autocast_dtype(t); }
void set_dtype(torch::DeviceType t, at::ScalarType d) { at::autocast::set_autocast_dtype(t, d); }
#else
bool autocast_enabled(torch::DeviceType t) {
  return t == torch::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void set_autocast(torch::DeviceType t, bool on) {
  if (t == torch::kCUDA)
    at::autocast::set_enabled(on);
  else
    at::autocast::set_cpu_enabled(on);
}
at::ScalarType autocast_dtype(torch::DeviceType t) {
  return t == torch::kCUDA ? at::autocast::get_autocast_gpu_dtype()
                           : at::autocast::get_autocast_cpu_dtype();
}
void set_dtype(torch::DeviceType t, at::ScalarType d) {
  if (t == torch::kCUDA)
    at::autocast::set_autocast_gpu_dtype(d);
  else
    at::autocast::set_autocast_cpu_dtype(d);
}
#endif

}  // namespace

AutocastGuard::AutocastGuard(Autocast autocast, const torch::Device& device) {
  if (autocast == Autocast::none) return;
  check_autocast(autocast, device);
  active_ = true;
  device_type_ = device.type();
  was_enabled_ = autocast_enabled(device_type_);
  previous_dtype_ = autocast_dtype(device_type_);
  set_autocast(device_type_, true);
  set_dtype(device_type_, autocast == Autocast::bf16 ? at::kBFloat16 : at::kHalf);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // torch.autocast.__exit__: the outermost exit drops the cached casts of the weights.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(device_type_, was_enabled_);
  set_dtype(device_type_, previous_dtype_);
}

}  // namespace loraft::train
