#include "loraft/paper/table.h"

#include <cstdio>

#include <cmath>
#include <sstream>

#include "loraft/core/error.h"

namespace loraft::paper {
namespace {

// RFC 4180: a cell with a comma, a quote or a line end is quoted, its quotes doubled.
std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

void write_line(std::ostream& out, const std::vector<std::string>& cells) {
  for (std::size_t i = 0; i < cells.size(); ++i) out << (i ? "," : "") << csv_quote(cells[i]);
  out << "\n";
}

}  // namespace

void Table::add(std::vector<std::string> row) {
  if (row.size() != columns.size())
    throw ConfigError("a row of " + std::to_string(row.size()) + " cells in a table of " +
                      std::to_string(columns.size()) + " columns");
  rows.push_back(std::move(row));
}

std::string Table::csv() const {
  std::ostringstream s;
  write_line(s, columns);
  for (const auto& row : rows) write_line(s, row);
  return s.str();
}

std::string cell(double value) {
  if (std::isnan(value)) return "nan";
  std::ostringstream s;
  s.precision(6);
  s << value;
  return s.str();
}

std::string count_text(double count) {
  if (std::isnan(count)) return "nan";
  static const char* const units[] = {"", " k", " M", " G"};
  int unit = 0;
  double v = count;
  while (std::abs(v) >= 999.5 && unit < 3) v /= 1000.0, ++unit;
  char buf[32];
  // 3 significant digits: 4.34, 25.0, 860.
  const int decimals = unit == 0 ? 0 : std::abs(v) < 9.995 ? 2 : std::abs(v) < 99.95 ? 1 : 0;
  std::snprintf(buf, sizeof buf, "%.*f%s", decimals, v, units[unit]);
  return buf;
}

}  // namespace loraft::paper
