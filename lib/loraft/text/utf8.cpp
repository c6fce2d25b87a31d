#include "loraft/text/utf8.h"

#include <cstdio>
#include <cstring>

#include "loraft/core/error.h"

namespace loraft::text {

std::size_t count_code_points(std::string_view valid_utf8) noexcept {
  std::size_t n = 0;
  for (char c : valid_utf8) n += is_utf8_continuation(c) ? 0 : 1;
  return n;
}

std::size_t find_invalid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    // Eight ASCII bytes at a time: review text is mostly ASCII.
    if (n - i >= 8) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    if (decode_utf8(s, i) < 0) return i;
  }
  return std::string_view::npos;
}

void throw_invalid_utf8(std::string_view s, std::size_t offset, const std::string& where) {
  std::string bytes;
  for (std::size_t k = offset; k < s.size() && k < offset + 4; ++k) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%s0x%02X", bytes.empty() ? "" : " ",
                  static_cast<unsigned>(static_cast<unsigned char>(s[k])));
    bytes += hex;
  }
  throw FormatError("invalid UTF-8 at byte " + std::to_string(offset) + " (" + bytes + ")", where,
                    "UTF-8 text");
}

void check_utf8(std::string_view s, const std::string& where) {
  std::size_t bad = find_invalid_utf8(s);
  if (bad != std::string_view::npos) throw_invalid_utf8(s, bad, where);
}

}  // namespace loraft::text
