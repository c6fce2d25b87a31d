#include "loraft/data/dataset.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "loraft/core/error.h"
#include "loraft/text/utf8.h"

namespace loraft::data {

std::vector<std::int64_t> Dataset::label_counts() const {
  std::vector<std::int64_t> counts(label_names.size(), 0);
  for (std::int64_t l : labels)
    if (l >= 0 && static_cast<std::size_t>(l) < counts.size()) ++counts[static_cast<std::size_t>(l)];
  return counts;
}

std::string Dataset::content_sha256() const {
  Sha256 sha;
  sha.update_field("loraft.data.content/1");
  const std::uint64_t n = texts.size();
  unsigned char le[8];
  auto put = [&](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(v >> (8 * i));
    sha.update(le, sizeof le);
  };
  put(n);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    put(static_cast<std::uint64_t>(i < labels.size() ? labels[i] : -1));
    sha.update_field(texts[i]);
  }
  return sha.hex();
}

void Dataset::validate() const {
  if (labels.size() != texts.size())
    throw FormatError(std::to_string(labels.size()) + " labels for " +
                          std::to_string(texts.size()) + " texts",
                      name, "one label per text");
  if (!meta.empty() && meta.size() != texts.size())
    throw FormatError(std::to_string(meta.size()) + " meta entries for " +
                          std::to_string(texts.size()) + " texts",
                      name, "one meta entry per text, or none");
  const auto k = static_cast<std::int64_t>(label_names.size());
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < -1 || labels[i] >= k)
      throw FormatError("label " + std::to_string(labels[i]) + " out of range",
                        name + " example " + std::to_string(i),
                        "-1 or 0.." + std::to_string(k - 1));
}

SourceDigest::SourceDigest() { sha_.update_field("loraft.data.sources/1"); }

void SourceDigest::add(std::string_view relative_name, std::string_view bytes) {
  sha_.update_field(relative_name);
  sha_.update_field(bytes);
  ++files_;
}

std::string SourceDigest::hex() { return sha_.hex(); }

void check_utf8_text(std::string_view bytes, const std::string& where) {
  const std::size_t bad = text::find_invalid_utf8(bytes);
  if (bad == std::string_view::npos) return;
  const auto line = 1 + std::count(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bad), '\n');
  std::string shown;
  for (std::size_t k = bad; k < bytes.size() && k < bad + 4; ++k) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%s0x%02X", shown.empty() ? "" : " ",
                  static_cast<unsigned>(static_cast<unsigned char>(bytes[k])));
    shown += hex;
  }
  throw FormatError("invalid UTF-8 at byte " + std::to_string(bad) + " (" + shown + ")",
                    at_line(where, line), "UTF-8 text");
}

bool parse_int64(std::string_view text, std::int64_t& value) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  std::size_t b = 0, e = text.size();
  while (b < e && space(text[b])) ++b;
  while (e > b && space(text[e - 1])) --e;
  bool negative = false;
  if (b < e && (text[b] == '+' || text[b] == '-')) negative = text[b++] == '-';
  if (b == e) return false;
  std::uint64_t v = 0;
  for (std::size_t i = b; i < e; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    if (v > (static_cast<std::uint64_t>(INT64_MAX) - static_cast<std::uint64_t>(c - '0')) / 10)
      return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  value = negative ? -static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v);
  return true;
}

}  // namespace loraft::data
