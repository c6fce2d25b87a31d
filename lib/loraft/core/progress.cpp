#include "loraft/core/progress.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace loraft {
namespace {

std::atomic<bool> bars_disabled{false};

bool stderr_is_terminal() {
  if (bars_disabled) return false;
  const char* env = std::getenv("LORAFT_PROGRESS");
  if (env && std::strcmp(env, "0") == 0) return false;
  if (env && std::strcmp(env, "1") == 0) return true;
  return isatty(STDERR_FILENO) == 1;
}

std::string format_seconds(double s) {
  char buf[32];
  long t = static_cast<long>(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

}  // namespace

void disable_progress_bars() { bars_disabled = true; }

ProgressBar::ProgressBar(std::string label, std::int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(stderr_is_terminal()),
      start_(Clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::advance(std::int64_t n) {
  done_ += n;
  if (!enabled_) return;
  auto now = Clock::now();
  if (now - last_draw_ >= std::chrono::milliseconds(100)) {
    last_draw_ = now;
    draw(false);
  }
}

void ProgressBar::set_postfix(std::string text) { postfix_ = std::move(text); }

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void ProgressBar::draw(bool final) {
  double elapsed = seconds_since(start_);
  double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  std::string line = "\r" + label_ + " ";
  if (total_ > 0) {
    const int width = 28;
    int filled = static_cast<int>(width * std::min<double>(1.0, double(done_) / double(total_)));
    line += "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
    line += std::to_string(done_) + "/" + std::to_string(total_);
  } else {
    line += std::to_string(done_);
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, " %.1f %s/s", rate, unit_.c_str());
  line += buf;
  line += " " + format_seconds(elapsed);
  if (!final && total_ > 0 && rate > 0)
    line += " eta " + format_seconds(double(total_ - done_) / rate);
  if (!postfix_.empty()) line += " " + postfix_;
  line += "\x1b[K";
  if (final) line += "\n";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace loraft
