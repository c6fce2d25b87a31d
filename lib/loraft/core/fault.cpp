#include "loraft/core/fault.h"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <string>

namespace loraft {

namespace {

// LORAFT_FAULT = NAME[:N[:SIGNAL]], read once.
struct Fault {
  std::string point;       // "" when no fault is asked for
  long long when = 1;      // the hit that signals
  int signal = SIGKILL;    // KILL, INT or TERM
};

Fault read_fault() {
  Fault f;
  const char* env = std::getenv("LORAFT_FAULT");
  const std::string spec = env ? env : "";
  const auto first = spec.find(':');
  f.point = spec.substr(0, first);
  if (first == std::string::npos) return f;
  const auto second = spec.find(':', first + 1);
  f.when = std::atoll(spec.substr(first + 1, second - first - 1).c_str());
  if (second == std::string::npos) return f;
  const std::string name = spec.substr(second + 1);
  f.signal = name == "INT" ? SIGINT : name == "TERM" ? SIGTERM : SIGKILL;
  return f;
}

const Fault& fault() {
  static const Fault f = read_fault();
  return f;
}

}  // namespace

bool fault_here(const char* name) {
  static std::atomic<long long> hits{0};
  if (fault().point.empty() || fault().point != name) return false;
  return ++hits == fault().when;
}

void fault_point(const char* name) {
  if (fault_here(name)) std::raise(fault().signal);
}

}  // namespace loraft
