#pragma once
/// @file
/// @brief Strict UTF-8 decoding and encoding for the tokenizer.
///
/// The Hugging Face reference only ever sees Python `str`, i.e. valid Unicode. loraft
/// receives bytes, so it rejects what Python's strict UTF-8 decoder rejects (overlong forms,
/// surrogates, code points above U+10FFFF, truncated or stray continuation bytes) instead of
/// guessing a replacement: a replaced character would silently change the ids.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace loraft::text {

/// Decodes the code point that starts at byte `i` of `s` and advances `i` past it.
/// Returns -1 (and leaves `i` unchanged) when the bytes at `i` are not valid UTF-8.
inline std::int32_t decode_utf8(std::string_view s, std::size_t& i) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  const unsigned b0 = p[i];
  if (b0 < 0x80) {
    ++i;
    return static_cast<std::int32_t>(b0);
  }
  // Lead byte ranges and the allowed range of the second byte follow RFC 3629's table,
  // which is exactly what Python's strict decoder accepts.
  unsigned need, lo = 0x80, hi = 0xBF;
  std::uint32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return -1;
  }
  if (n - i <= need) return -1;  // truncated at the end of the input
  const unsigned b1 = p[i + 1];
  if (b1 < lo || b1 > hi) return -1;
  cp = (cp << 6) | (b1 & 0x3F);
  for (unsigned k = 2; k <= need; ++k) {
    const unsigned b = p[i + k];
    if ((b & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (b & 0x3F);
  }
  i += need + 1;
  return static_cast<std::int32_t>(cp);
}

/// Appends the UTF-8 encoding of `cp` (a valid Unicode scalar value) to `out`.
inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

/// True for a UTF-8 continuation byte (10xxxxxx): never the start of a code point.
inline bool is_utf8_continuation(char c) noexcept {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

/// Number of code points in valid UTF-8 (what Python's `len(str)` counts).
std::size_t count_code_points(std::string_view valid_utf8) noexcept;

/// Byte offset of the first invalid UTF-8 sequence in `s`, or `std::string_view::npos`.
std::size_t find_invalid_utf8(std::string_view s) noexcept;

/// Throws FormatError `<where>: invalid UTF-8 at byte <offset> (...)` if `s` is not valid
/// UTF-8; `where` names the input (a file, `stdin:3`, or "text").
void check_utf8(std::string_view s, const std::string& where = "text");

/// The FormatError check_utf8() throws, for callers that found the bad byte themselves.
[[noreturn]] void throw_invalid_utf8(std::string_view s, std::size_t offset,
                                     const std::string& where);

}  // namespace loraft::text
