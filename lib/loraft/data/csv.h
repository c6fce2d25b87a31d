#pragma once
/// @file
/// @brief A streaming CSV/TSV record parser (RFC 4180 quoting) with errors at `file:line`.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace loraft::data {

/// The CSV dialect.
struct CsvOptions {
  char delimiter = ',';  ///< field separator (`,` or `\t`)
  /// Fields may be wrapped in `"`, with `""` for a quote inside; delimiters and line breaks
  /// inside quotes belong to the field. Off for plain TSV, where a `"` is an ordinary byte.
  bool quoting = true;
  /// Spaces right after a delimiter (or at the start of a record) are dropped, as Python's
  /// `csv.reader(..., skipinitialspace=True)` does.
  bool skip_initial_space = false;
};

/// One record: its fields and the line (counted from 1) it starts on.
struct CsvRecord {
  std::vector<std::string> fields;  ///< empty for an empty line
  long long line = 0;               ///< physical line of the record's first byte
};

/// Splits CSV bytes into records, one at a time.
///
/// Records end at `\n` or `\r\n` outside quotes; the last record may lack its line end.
/// Inside quotes every byte is kept as is (line breaks included) except that `""` stands
/// for `"`. An empty line gives a record without fields (Python's csv gives `[]` too), so
/// callers decide whether that is an error. Errors (FormatError at `where:line`):
/// - a quoted field that never closes (the line of its opening quote);
/// - anything but a delimiter or line end right after a closing quote (`"a"b,`), which
///   Python's lenient mode would silently glue together.
/// A `"` inside an unquoted field is kept literally, as Python's csv does.
class CsvParser {
 public:
  /// Parses `bytes` (which must outlive the parser); `where` names the input in errors.
  CsvParser(std::string_view bytes, std::string where, CsvOptions options = {});

  /// Reads the next record into `record`; false at the end of the input.
  bool next(CsvRecord& record);

  /// The line the parser has reached (the next record starts on it).
  long long line() const noexcept { return line_; }

 private:
  std::string_view bytes_;
  std::string where_;
  CsvOptions options_;
  std::size_t pos_ = 0;
  long long line_ = 1;
};

}  // namespace loraft::data
