#pragma once
/// @file
/// @brief The exception types loraft throws on bad input, and how they read.

#include <stdexcept>
#include <string>
#include <utility>

namespace loraft {

/// Base of every error loraft reports about user input, files or configuration.
///
/// An error says what went wrong, where (a file, a line or row, a key) and what was
/// expected, so that one line tells the user what to fix:
/// `data/train.csv:17: unterminated quoted field (expected a closing '"')`.
class Error : public std::runtime_error {
 public:
  /// @param what     what went wrong, as a short sentence fragment
  /// @param where    the place: `file`, `file:line`, `file: key`; empty when there is none
  /// @param expected what would have been accepted; empty when obvious
  explicit Error(std::string what, std::string where = {}, std::string expected = {});

  /// The problem alone, without place or expectation.
  const std::string& problem() const noexcept { return problem_; }
  /// The place (file, file:line, key), or empty.
  const std::string& where() const noexcept { return where_; }
  /// What was expected, or empty.
  const std::string& expected() const noexcept { return expected_; }

 private:
  std::string problem_;
  std::string where_;
  std::string expected_;
};

/// A file or folder could not be found, opened, read or written.
class IoError : public Error {
 public:
  using Error::Error;
};

/// A file's content does not follow its format (CSV, JSON, safetensors, HDF5 cache ...).
class FormatError : public Error {
 public:
  using Error::Error;
};

/// A configuration value or option is invalid or inconsistent.
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// Work stopped before its end, on request (a signal, a test's stop point), with what it had
/// done kept: run again to continue. Programs exit with 128 + signal() when a signal asked.
class Interrupted : public Error {
 public:
  /// Error's message parts, and the signal that asked to stop (0: none).
  Interrupted(std::string what, std::string where, std::string expected = {}, int signal = 0)
      : Error(std::move(what), std::move(where), std::move(expected)), signal_(signal) {}
  /// The signal that asked to stop, or 0.
  int signal() const noexcept { return signal_; }

 private:
  int signal_;
};

/// Throws ConfigError("invalid <field>", field, expected) unless `ok`: one line per rule in a
/// configuration's validate().
void require(bool ok, const char* field, const char* expected);

/// Formats `where: what (expected ...)`, the single line every Error prints.
std::string format_error(const std::string& what, const std::string& where,
                         const std::string& expected);

/// `path:line`, the usual `where` for an error inside a text file (lines count from 1).
std::string at_line(const std::string& path, long long line);

}  // namespace loraft
