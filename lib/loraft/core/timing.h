#pragma once
/// @file
/// @brief Wall-clock intervals.

#include <chrono>

namespace loraft {

/// The monotonic clock every timing in loraft reads.
using Clock = std::chrono::steady_clock;

/// Seconds from `t0` to now on Clock.
inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace loraft
