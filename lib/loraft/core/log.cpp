#include "loraft/core/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace loraft {
namespace {

LogLevel level_from_env() {
  const char* env = std::getenv("LORAFT_LOG");
  if (!env) return LogLevel::info;
  if (!std::strcmp(env, "debug")) return LogLevel::debug;
  if (!std::strcmp(env, "warning")) return LogLevel::warning;
  if (!std::strcmp(env, "error")) return LogLevel::error;
  return LogLevel::info;
}

std::atomic<int> g_level{static_cast<int>(level_from_env())};
std::mutex g_mutex;

}  // namespace

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }

void log(LogLevel level, const std::string& message) {
  if (static_cast<int>(level) < g_level.load()) return;
  static const char* names[] = {"debug", "info", "warning", "error"};
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fprintf(stderr, "loraft: %s: %s\n", names[static_cast<int>(level)], message.c_str());
}

}  // namespace loraft
