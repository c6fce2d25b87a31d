#pragma once
/// @file
/// @brief Small string tests every component needs (C++20's starts_with/ends_with, for C++17).

#include <string_view>

namespace loraft {

/// Whether `s` begins with `prefix`.
inline bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

/// Whether `s` ends with `suffix`.
inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace loraft
