#include "loraft/data/csv.h"

#include "loraft/core/error.h"

namespace loraft::data {

CsvParser::CsvParser(std::string_view bytes, std::string where, CsvOptions options)
    : bytes_(bytes), where_(std::move(where)), options_(options) {}

bool CsvParser::next(CsvRecord& record) {
  record.fields.clear();
  const std::size_t n = bytes_.size();
  if (pos_ >= n) return false;
  record.line = line_;
  const char delim = options_.delimiter;

  // An empty line: a record without fields.
  if (bytes_[pos_] == '\n' || (bytes_[pos_] == '\r' && pos_ + 1 < n && bytes_[pos_ + 1] == '\n')) {
    pos_ += bytes_[pos_] == '\r' ? 2 : 1;
    ++line_;
    return true;
  }

  std::string field;
  for (;;) {  // one field per iteration
    field.clear();
    if (options_.skip_initial_space)
      while (pos_ < n && bytes_[pos_] == ' ') ++pos_;
    bool end_of_record = false;
    if (options_.quoting && pos_ < n && bytes_[pos_] == '"') {
      const long long opened = line_;
      ++pos_;
      for (;;) {
        if (pos_ >= n)
          throw FormatError("unterminated quoted field", at_line(where_, opened),
                            "a closing '\"'");
        const char c = bytes_[pos_++];
        if (c == '"') {
          if (pos_ < n && bytes_[pos_] == '"') {
            field.push_back('"');
            ++pos_;
            continue;
          }
          break;  // closing quote
        }
        if (c == '\n') ++line_;
        field.push_back(c);
      }
      // After the closing quote: a delimiter, a line end or the end of the input.
      if (pos_ >= n) {
        end_of_record = true;
      } else if (bytes_[pos_] == delim) {
        ++pos_;
      } else if (bytes_[pos_] == '\n') {
        ++pos_;
        ++line_;
        end_of_record = true;
      } else if (bytes_[pos_] == '\r' && pos_ + 1 < n && bytes_[pos_ + 1] == '\n') {
        pos_ += 2;
        ++line_;
        end_of_record = true;
      } else {
        throw FormatError("unexpected character after a closing quote", at_line(where_, line_),
                          std::string("a '") + (delim == '\t' ? "\\t" : std::string(1, delim)) +
                              "' or a line end after a quoted field");
      }
      record.fields.push_back(field);
      if (end_of_record) return true;
      // A delimiter at the very end of the input leaves one more (empty) field.
      if (pos_ >= n) {
        record.fields.emplace_back();
        return true;
      }
      continue;
    }
    // Unquoted field: up to the next delimiter or line end.
    const std::size_t start = pos_;
    while (pos_ < n && bytes_[pos_] != delim && bytes_[pos_] != '\n') ++pos_;
    std::size_t stop = pos_;
    if (pos_ < n && bytes_[pos_] == '\n') {
      if (stop > start && bytes_[stop - 1] == '\r') --stop;  // CRLF
      record.fields.emplace_back(bytes_.substr(start, stop - start));
      ++pos_;
      ++line_;
      return true;
    }
    record.fields.emplace_back(bytes_.substr(start, stop - start));
    if (pos_ >= n) return true;
    ++pos_;  // the delimiter
    if (pos_ >= n) {
      record.fields.emplace_back();
      return true;
    }
  }
}

}  // namespace loraft::data
