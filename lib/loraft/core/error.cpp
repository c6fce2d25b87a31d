#include "loraft/core/error.h"

namespace loraft {

std::string format_error(const std::string& what, const std::string& where,
                         const std::string& expected) {
  std::string out;
  if (!where.empty()) out += where + ": ";
  out += what;
  if (!expected.empty()) out += " (expected " + expected + ")";
  return out;
}

std::string at_line(const std::string& path, long long line) {
  return path + ":" + std::to_string(line);
}

Error::Error(std::string what, std::string where, std::string expected)
    : std::runtime_error(format_error(what, where, expected)),
      problem_(std::move(what)),
      where_(std::move(where)),
      expected_(std::move(expected)) {}

void require(bool ok, const char* field, const char* expected) {
  if (!ok) throw ConfigError(std::string("invalid ") + field, field, expected);
}

}  // namespace loraft
