#pragma once
/// @file
/// @brief A progress bar on stderr, drawn only when stderr is a terminal.

#include <chrono>
#include <cstdint>
#include <string>

#include "loraft/core/timing.h"

namespace loraft {

/// Turns progress bars off for the rest of the process, terminal or not (the ranks of a
/// data-parallel run other than rank 0).
void disable_progress_bars();

/// Shows `label [#####.....] done/total rate ETA` on stderr, redrawn at most ~10 times a
/// second. When stderr is not a terminal (CI, pipes, files) it draws nothing, so logs stay
/// clean; finish() then prints one summary line unless `quiet` is set.
class ProgressBar {
 public:
  /// @param label  what is being counted ("tokenize", "epoch 1/3")
  /// @param total  the count at completion; 0 if unknown
  /// @param unit   the unit name for the rate ("rows", "steps")
  ProgressBar(std::string label, std::int64_t total, std::string unit = "it");
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  /// Adds `n` to the count.
  void advance(std::int64_t n = 1);
  /// Sets a short free-form suffix (e.g. "loss 0.412").
  void set_postfix(std::string text);
  /// Draws the final state and ends the line. Called by the destructor if not before.
  void finish();
  /// Whether the bar draws (stderr is a terminal and LORAFT_PROGRESS is not 0).
  bool enabled() const noexcept { return enabled_; }

 private:
  void draw(bool final);

  std::string label_, unit_, postfix_;
  std::int64_t total_, done_ = 0;
  bool enabled_, finished_ = false;
  Clock::time_point start_, last_draw_;
};

}  // namespace loraft
