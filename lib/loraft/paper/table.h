#pragma once
/// @file
/// @brief The paper's tables as CSV: rows of strings and how a number becomes a cell.

#include <string>
#include <vector>

namespace loraft::paper {

/// A table of strings written as CSV (RFC 4180 quoting where a cell needs it).
struct Table {
  std::vector<std::string> columns;            ///< header
  std::vector<std::vector<std::string>> rows;  ///< cells, one vector per row
  /// Appends a row; ConfigError if its size differs from the header's.
  void add(std::vector<std::string> row);
  /// The table as CSV text: the header, then one line per row.
  std::string csv() const;
};

/// A number as CSV and LaTeX cells show it: up to 6 significant digits, "nan" for NaN.
std::string cell(double value);

/// A count as a reader takes it in: 3 significant digits with k, M or G ("4.34 M", "25.0 k",
/// "860"); for text, tables and bar labels (CSV files keep the exact count).
std::string count_text(double count);

}  // namespace loraft::paper
