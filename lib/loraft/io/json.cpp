#include "loraft/io/json.h"

#include "loraft/core/error.h"
#include "loraft/io/file.h"

namespace loraft::io {

namespace {

// nlohmann reports a byte offset; people want line and column.
std::string locate(const std::string& text, std::size_t byte) {
  long long line = 1, col = 1;
  for (std::size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

}  // namespace

Json read_json(const std::filesystem::path& path) {
  std::string text = read_file(path);
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError("invalid JSON: " + std::string(e.what()),
                      path.string() + ":" + locate(text, e.byte > 0 ? e.byte - 1 : 0),
                      "a JSON document");
  } catch (const nlohmann::json::exception& e) {  // e.g. a number past double's range (1e400)
    throw FormatError("invalid JSON: " + std::string(e.what()), path.string(), "a JSON document");
  }
}

void for_each_json_line(const std::filesystem::path& path,
                        const std::function<void(const Json&, long long)>& on_line) {
  std::string text = read_file(path);
  std::size_t pos = 0;
  long long line_no = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line_no;
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    Json j;
    try {
      j = Json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // syntax, or a number past double's range
      throw FormatError("invalid JSON line: " + std::string(e.what()), at_line(path.string(), line_no),
                        "one JSON value per line");
    }
    on_line(j, line_no);
  }
}

void throw_missing_key(const std::string& key, const std::string& where) {
  throw FormatError("missing key \"" + key + "\"", where, "an object with \"" + key + "\"");
}

void throw_bad_key(const std::string& key, const std::string& where, const std::string& detail) {
  throw FormatError("key \"" + key + "\" has the wrong type: " + detail, where);
}

}  // namespace loraft::io
