#pragma once
/// @file
/// @brief Minimal leveled logging to stderr.

#include <string>

namespace loraft {

/// Message levels, least to most severe.
enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3 };

/// Sets the least severe level that is printed (default info; `LORAFT_LOG=debug|info|warning|error`).
void set_log_level(LogLevel level);
/// The level in force.
LogLevel log_level();

/// Prints `loraft: <level>: <message>` on stderr if `level` is enabled. Thread-safe.
void log(LogLevel level, const std::string& message);
/// log(LogLevel::info, message).
inline void log_info(const std::string& message) { log(LogLevel::info, message); }
/// log(LogLevel::warning, message).
inline void log_warning(const std::string& message) { log(LogLevel::warning, message); }

}  // namespace loraft
