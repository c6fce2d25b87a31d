#include "loraft/data/ag_news.h"

#include <system_error>

#include "loraft/core/error.h"
#include "loraft/data/csv.h"
#include "loraft/io/file.h"

namespace loraft::data {
namespace fs = std::filesystem;

namespace {

// Python's text mode (`open(path, encoding="utf-8")`, newline=None), which HF's script
// uses, turns "\r\n" and a lone "\r" into "\n" before csv.reader sees the text; doing the
// same keeps texts identical for files with Windows line ends.
std::string universal_newlines(std::string bytes) {
  if (bytes.find('\r') == std::string::npos) return bytes;
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < bytes.size() && bytes[i + 1] == '\n') ++i;
    } else {
      out.push_back(bytes[i]);
    }
  }
  return out;
}

std::vector<std::string> read_class_names(const fs::path& path, SourceDigest& digest,
                                          std::vector<fs::path>& sources) {
  const std::string bytes = io::read_file(path);
  check_utf8_text(bytes, path.string());
  digest.add(path.filename().string(), bytes);
  sources.push_back(path);
  std::vector<std::string> names;
  std::size_t start = 0;
  long long line = 1;
  while (start < bytes.size()) {
    std::size_t end = bytes.find('\n', start);
    if (end == std::string::npos) end = bytes.size();
    std::string name = bytes.substr(start, end - start);
    if (!name.empty() && name.back() == '\r') name.pop_back();
    if (name.empty())
      throw FormatError("empty class name", at_line(path.string(), line), "one class name per line");
    names.push_back(std::move(name));
    start = end + 1;
    ++line;
  }
  if (names.empty()) throw FormatError("no class names", path.string(), "one class name per line");
  return names;
}

}  // namespace

Dataset read_ag_news_csv(const fs::path& path) {
  const std::string where = path.string();
  const std::string raw = io::read_file(path);
  check_utf8_text(raw, where);

  Dataset d;
  d.name = "ag_news/" + path.stem().string();
  SourceDigest digest;
  digest.add(path.filename().string(), raw);
  d.sources.push_back(path);

  // classes.txt, when shipped beside the CSV, names the classes (line n = class n).
  std::error_code ec;
  const fs::path classes = path.parent_path() / "classes.txt";
  if (fs::is_regular_file(classes, ec))
    d.label_names = read_class_names(classes, digest, d.sources);
  else
    d.label_names = {"World", "Sports", "Business", "Sci/Tech"};
  const auto num_classes = static_cast<std::int64_t>(d.label_names.size());

  const std::string bytes = universal_newlines(raw);
  CsvOptions options;
  options.skip_initial_space = true;  // as HF's csv.reader(..., skipinitialspace=True)
  CsvParser parser(bytes, where, options);
  CsvRecord record;
  const std::string file = path.filename().string();
  while (parser.next(record)) {
    const std::string at = at_line(where, record.line);
    if (record.fields.size() != 3)
      throw FormatError(std::to_string(record.fields.size()) + " fields", at,
                        "3 fields: \"class\",\"title\",\"description\"");
    std::int64_t cls = 0;
    if (!parse_int64(record.fields[0], cls))
      throw FormatError("class '" + record.fields[0] + "' is not an integer", at,
                        "a class number from 1 to " + std::to_string(num_classes));
    if (cls < 1 || cls > num_classes)
      throw FormatError("class " + std::to_string(cls) + " out of range", at,
                        "a class number from 1 to " + std::to_string(num_classes));
    // HF ag_news.py: text = " ".join((title, description)); label = int(label) - 1.
    std::string text;
    text.reserve(record.fields[1].size() + 1 + record.fields[2].size());
    text += record.fields[1];
    text += ' ';
    text += record.fields[2];
    d.texts.push_back(std::move(text));
    d.labels.push_back(cls - 1);
    d.meta.push_back({file + ":" + std::to_string(record.line), -1, -1});
  }
  if (d.texts.empty())
    throw FormatError("empty split: no records", where, "\"class\",\"title\",\"description\" records");
  d.source_sha256 = digest.hex();
  d.recipe = "read_ag_news_csv/1 (HF ag_news: csv.reader skipinitialspace, universal newlines; "
             "text = title + ' ' + description; label = class - 1)";
  return d;
}

}  // namespace loraft::data
