#include "loraft/data/table.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include <nlohmann/json.hpp>

#include "loraft/core/error.h"
#include "loraft/data/csv.h"
#include "loraft/io/file.h"

namespace loraft::data {
namespace fs = std::filesystem;

namespace {

const char* format_name(TableFormat f) {
  switch (f) {
    case TableFormat::csv: return "csv";
    case TableFormat::tsv: return "tsv";
    case TableFormat::jsonl: return "jsonl";
    default: return "auto";
  }
}

std::string joined(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// Without a number of classes or names, the classes are the ids seen, 0 to the largest; a
// bound keeps one stray value (1000000000) from becoming a billion classes. Stated numbers
// of classes have the same bound.
constexpr std::int64_t kMaxLabels = 100000;

// Maps label values to ids as TableOptions describes, and remembers the largest id.
class LabelMapper {
 public:
  explicit LabelMapper(const TableOptions& o) : o_(o) {
    if (o.num_labels < 0 || o.num_labels > kMaxLabels)
      throw ConfigError("num_labels " + std::to_string(o.num_labels) + " out of range", "table options",
                        "0 (from the labels) to " + std::to_string(kMaxLabels));
    if (!o.label_names.empty() && o.num_labels > 0 &&
        o.num_labels != static_cast<std::int64_t>(o.label_names.size()))
      throw ConfigError("num_labels " + std::to_string(o.num_labels) + " disagrees with " +
                            std::to_string(o.label_names.size()) + " label names",
                        "table options", "num_labels equal to the number of names, or 0");
    limit_ = o.num_labels > 0 ? o.num_labels
                              : (o.label_names.empty() ? kMaxLabels
                                                       : static_cast<std::int64_t>(o.label_names.size()));
  }

  // A label given as text (CSV field or JSON string).
  std::int64_t from_text(const std::string& value, const std::string& at) {
    auto it = std::find(o_.label_names.begin(), o_.label_names.end(), value);
    if (it != o_.label_names.end()) return note(it - o_.label_names.begin());
    std::int64_t v = 0;
    if (!parse_int64(value, v)) {
      if (o_.label_names.empty())
        throw FormatError("label '" + value + "' is not an integer", at, expected());
      throw FormatError("unknown label '" + value + "'", at,
                        "one of: " + joined(o_.label_names) + ", or an integer id");
    }
    return from_integer(v, at);
  }

  std::int64_t from_integer(std::int64_t raw, const std::string& at) {
    std::int64_t id = -1;
    // A label near the int64 limits must not overflow the subtraction (-9223372036854775808 - 1).
    if (__builtin_sub_overflow(raw, o_.label_offset, &id) || id < 0 || id >= limit_)
      throw FormatError("label " + std::to_string(raw) + " out of range", at, expected());
    return note(id);
  }

  std::vector<std::string> names() const {
    if (!o_.label_names.empty()) return o_.label_names;
    const std::int64_t k = o_.num_labels > 0 ? o_.num_labels : max_ + 1;
    std::vector<std::string> out;
    for (std::int64_t i = 0; i < k; ++i) out.push_back(std::to_string(i));
    return out;
  }

 private:
  std::int64_t note(std::int64_t id) {
    max_ = std::max(max_, id);
    return id;
  }
  std::string expected() const {
    std::string range = "an integer from " + std::to_string(o_.label_offset) + " to " +
                        std::to_string(o_.label_offset + limit_ - 1);
    if (o_.num_labels == 0 && o_.label_names.empty()) range += " (more classes: give their number)";
    return range;
  }

  const TableOptions& o_;
  std::int64_t limit_;
  std::int64_t max_ = -1;
};

std::size_t column_index(const std::string& column, const std::vector<std::string>& header,
                         bool has_header, std::size_t num_fields, const std::string& where) {
  if (has_header) {
    auto it = std::find(header.begin(), header.end(), column);
    if (it == header.end())
      throw FormatError("no column '" + column + "'", at_line(where, 1),
                        "one of: " + joined(header));
    return static_cast<std::size_t>(it - header.begin());
  }
  std::int64_t i = 0;
  if (!parse_int64(column, i) || i < 0)
    throw ConfigError("column '" + column + "' is not a 0-based index", where,
                      "column indices for a table without a header");
  if (static_cast<std::size_t>(i) >= num_fields)
    throw FormatError("no column " + column + " (records have " + std::to_string(num_fields) +
                          " fields)",
                      at_line(where, 1), "an index below " + std::to_string(num_fields));
  return static_cast<std::size_t>(i);
}

void read_delimited(const std::string& bytes, std::size_t start, const std::string& where,
                    const std::string& file, TableFormat format, const TableOptions& o,
                    Dataset& d, LabelMapper& labels) {
  CsvOptions co;
  co.delimiter = format == TableFormat::tsv ? '\t' : ',';
  co.quoting = o.quoting.value_or(format == TableFormat::csv);
  CsvParser parser(std::string_view(bytes).substr(start), where, co);
  CsvRecord record;
  std::vector<std::string> header;
  std::size_t width = 0;
  bool first = true;
  std::vector<std::size_t> text_idx;
  std::size_t label_idx = 0;
  const bool labelled = !o.label_column.empty();
  while (parser.next(record)) {
    if (record.fields.empty()) continue;  // blank line
    if (first) {
      first = false;
      width = record.fields.size();
      if (o.header) header = record.fields;
      for (const auto& c : o.text_columns)
        text_idx.push_back(column_index(c, header, o.header, width, where));
      if (labelled) label_idx = column_index(o.label_column, header, o.header, width, where);
      if (o.header) continue;
    }
    const std::string at = at_line(where, record.line);
    if (record.fields.size() != width)
      throw FormatError(std::to_string(record.fields.size()) + " fields instead of " +
                            std::to_string(width),
                        at, std::to_string(width) + " fields in every record");
    std::string text;
    for (std::size_t k = 0; k < text_idx.size(); ++k) {
      if (k) text += o.text_separator;
      text += record.fields[text_idx[k]];
    }
    d.texts.push_back(std::move(text));
    d.labels.push_back(labelled ? labels.from_text(record.fields[label_idx], at) : -1);
    d.meta.push_back({file + ":" + std::to_string(record.line), -1, -1});
  }
}

void read_jsonl(const std::string& bytes, std::size_t start, const std::string& where,
                const std::string& file, const TableOptions& o, Dataset& d, LabelMapper& labels) {
  long long line = 1;
  const bool labelled = !o.label_column.empty();
  while (start < bytes.size()) {
    std::size_t end = bytes.find('\n', start);
    if (end == std::string::npos) end = bytes.size();
    const std::string_view text_line(bytes.data() + start, end - start);
    const std::string at = at_line(where, line);
    if (text_line.find_first_not_of(" \t\r") != std::string_view::npos) {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(text_line);
      } catch (const nlohmann::json::exception& e) {
        throw FormatError(std::string("malformed JSON: ") + e.what(), at, "one JSON object per line");
      }
      if (!j.is_object()) throw FormatError("line is not a JSON object", at, "one JSON object per line");
      std::string text;
      for (std::size_t k = 0; k < o.text_columns.size(); ++k) {
        const auto& key = o.text_columns[k];
        auto it = j.find(key);
        if (it == j.end())
          throw FormatError("missing key '" + key + "'", at, "a string value for '" + key + "'");
        if (!it->is_string())
          throw FormatError("'" + key + "' is not a string", at, "a string value for '" + key + "'");
        if (k) text += o.text_separator;
        text += it->get_ref<const std::string&>();
      }
      std::int64_t label = -1;
      if (labelled) {
        auto it = j.find(o.label_column);
        if (it == j.end())
          throw FormatError("missing key '" + o.label_column + "'", at, "a label");
        if (it->is_number_integer())
          label = labels.from_integer(it->get<std::int64_t>(), at);
        else if (it->is_string())
          label = labels.from_text(it->get_ref<const std::string&>(), at);
        else
          throw FormatError("label '" + it->dump() + "' is neither an integer nor a string", at,
                            "an integer id or a label name");
      }
      d.texts.push_back(std::move(text));
      d.labels.push_back(label);
      d.meta.push_back({file + ":" + std::to_string(line), -1, -1});
    }
    start = end + 1;
    ++line;
  }
}

}  // namespace

TableFormat parse_table_format(const std::string& name) {
  if (name == "auto") return TableFormat::automatic;
  if (name == "csv") return TableFormat::csv;
  if (name == "tsv") return TableFormat::tsv;
  if (name == "jsonl") return TableFormat::jsonl;
  throw ConfigError("unknown table format '" + name + "'", "table format", "auto, csv, tsv or jsonl");
}

TableFormat table_format_for(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".csv") return TableFormat::csv;
  if (ext == ".tsv" || ext == ".tab") return TableFormat::tsv;
  if (ext == ".jsonl" || ext == ".ndjson") return TableFormat::jsonl;
  throw ConfigError("cannot tell the table format from the extension '" + ext + "'", path.string(),
                    ".csv, .tsv, .tab, .jsonl or .ndjson, or an explicit format");
}

Dataset read_table(const fs::path& path, const TableOptions& options) {
  const TableFormat format =
      options.format == TableFormat::automatic ? table_format_for(path) : options.format;
  if (options.text_columns.empty())
    throw ConfigError("no text columns", "table options", "at least one text column");
  const std::string where = path.string();
  const std::string bytes = io::read_file(path);
  check_utf8_text(bytes, where);

  Dataset d;
  d.name = options.name.empty() ? path.stem().string() : options.name;
  SourceDigest digest;
  digest.add(path.filename().string(), bytes);
  d.sources.push_back(path);

  LabelMapper labels(options);
  // A UTF-8 byte order mark is not part of the data (pandas drops it too).
  const std::size_t start = bytes.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  const std::string file = path.filename().string();
  if (format == TableFormat::jsonl)
    read_jsonl(bytes, start, where, file, options, d, labels);
  else
    read_delimited(bytes, start, where, file, format, options, d, labels);
  if (d.texts.empty()) throw FormatError("empty split: no records", where, "at least one record");

  d.label_names = labels.names();
  d.source_sha256 = digest.hex();
  d.recipe = std::string("read_table/1 format=") + format_name(format) +
             " header=" + (options.header ? "1" : "0") +
             " quoting=" + (options.quoting.value_or(format == TableFormat::csv) ? "1" : "0") +
             " text=[" + joined(options.text_columns, "|") + "] sep='" + options.text_separator +
             "' label=" + options.label_column + " names=[" + joined(options.label_names, "|") +
             "] offset=" + std::to_string(options.label_offset) +
             " num_labels=" + std::to_string(options.num_labels);
  return d;
}

}  // namespace loraft::data
