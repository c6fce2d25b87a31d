#pragma once
/// @file
/// @brief JSON and JSON-lines reading with errors that name the file, line and key.

#include <filesystem>
#include <functional>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace loraft::io {

/// The JSON value type loraft uses (nlohmann::json, keys in insertion order not kept).
using Json = nlohmann::json;
/// JSON object that keeps its keys in insertion order (for files people read).
using OrderedJson = nlohmann::ordered_json;

/// Parses a JSON file. Throws FormatError with `path:line:column` on a syntax error.
Json read_json(const std::filesystem::path& path);

/// Calls `on_line(json, line_number)` for each non-empty line of a JSON-lines file.
/// Lines are split on `\n` only (U+2028/U+2029 inside strings are not line ends).
/// Throws FormatError with `path:line` on a malformed line.
void for_each_json_line(const std::filesystem::path& path,
                        const std::function<void(const Json&, long long)>& on_line);

/// Throws the FormatError get_field() raises for a missing key.
[[noreturn]] void throw_missing_key(const std::string& key, const std::string& where);
/// Throws the FormatError get_field() raises for a value of the wrong type.
[[noreturn]] void throw_bad_key(const std::string& key, const std::string& where,
                                const std::string& detail);

/// The value at `key` of object `j`, converted to T; FormatError naming `where` and the
/// key if it is missing or of the wrong type (for an integer T, any number but an integer).
template <typename T>
T get_field(const Json& j, const std::string& key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) throw_missing_key(key, where);
  // nlohmann converts a float to an integer type with a plain cast: undefined for 1e300.
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
    if (!it->is_number_integer()) throw_bad_key(key, where, "an integer was expected, not " + it->dump());
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw_bad_key(key, where, e.what());
  }
}

}  // namespace loraft::io
