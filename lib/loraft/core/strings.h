#pragma once
/// @file
/// @brief Small string helpers every component needs (C++20's starts_with/ends_with, for C++17;
/// joining, shell quoting).

#include <string>
#include <string_view>
#include <vector>

namespace loraft {

/// Whether `s` begins with `prefix`.
inline bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

/// Whether `s` ends with `suffix`.
inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

/// `items` separated by ", " (for messages that list names).
inline std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

/// `s` as one word of a POSIX shell command: in single quotes, each ' written as '\\''.
inline std::string shell_quote(std::string_view s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace loraft
