#include "loraft/text/vocab.h"

#include "loraft/core/error.h"
#include "loraft/core/hash.h"
#include "loraft/io/file.h"
#include "loraft/text/utf8.h"

namespace loraft::text {

Vocab Vocab::load(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path))
    throw IoError("vocabulary file not found", path.string(), "a vocab.txt file, one token per line");
  return parse(io::read_file(path), path.string());
}

Vocab Vocab::parse(std::string_view content, const std::string& source) {
  Vocab v;
  v.source_ = source;
  v.sha256_ = sha256_hex(content);
  if (content.size() >= 0xFFFFFFFFu) throw FormatError("vocabulary too large", source);
  v.text_.reserve(content.size());
  // load_vocab opens the file in text mode: readlines() ends a line at "\n", "\r\n" or
  // "\r" (universal newlines), then rstrip("\n") drops the (translated) terminator. A final
  // line without a terminator is still a token; nothing after a final terminator is.
  std::size_t pos = 0;
  long long line = 0;
  while (pos < content.size()) {
    std::size_t end = content.find_first_of("\r\n", pos);
    std::size_t next;
    if (end == std::string_view::npos) {
      end = next = content.size();
    } else if (content[end] == '\r' && end + 1 < content.size() && content[end + 1] == '\n') {
      next = end + 2;
    } else {
      next = end + 1;
    }
    ++line;
    std::string_view token = content.substr(pos, end - pos);
    std::size_t bad = find_invalid_utf8(token);
    if (bad != std::string_view::npos)
      throw_invalid_utf8(token, bad, at_line(source, line));
    const auto id = static_cast<std::int32_t>(v.size());
    v.text_.append(token.data(), token.size());
    v.offsets_.push_back(static_cast<std::uint32_t>(v.text_.size()));
    v.map_.insert_or_assign(token, id);  // a repeated token keeps its last line, as dict does
    if (token.size() >= 2 && token[0] == '#' && token[1] == '#')
      v.continuation_.insert_or_assign(token.substr(2), id);
    pos = next;
  }
  return v;
}

std::int32_t Vocab::id(std::string_view token) const {
  std::int32_t i = find(token);
  if (i < 0)
    throw ConfigError("token \"" + std::string(token) + "\" is not in the vocabulary", source_,
                      "a vocabulary that contains it");
  return i;
}

std::string_view Vocab::token(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= size())
    throw ConfigError("token id " + std::to_string(id) + " is out of range", source_,
                      "an id below " + std::to_string(size()));
  const auto i = static_cast<std::size_t>(id);
  return std::string_view(text_).substr(offsets_[i], offsets_[i + 1] - offsets_[i]);
}

}  // namespace loraft::text
