#pragma once
/// @file
/// @brief A generic reader of labelled texts in CSV, TSV or JSON-lines files.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "loraft/data/dataset.h"

namespace loraft::data {

/// The file formats read_table() understands.
enum class TableFormat {
  automatic,  ///< from the file extension: `.csv`, `.tsv`/`.tab`, `.jsonl`/`.ndjson`
  csv,        ///< comma-separated, RFC 4180 quoting
  tsv,        ///< tab-separated; no quoting unless TableOptions::quoting says so
  jsonl,      ///< one JSON object per line
};

/// The format named `name` ("auto", "csv", "tsv", "jsonl"); ConfigError otherwise.
TableFormat parse_table_format(const std::string& name);

/// The format a path's extension implies; ConfigError for an unknown extension.
TableFormat table_format_for(const std::filesystem::path& path);

/// What to read from a table and how labels map to ids.
struct TableOptions {
  TableFormat format = TableFormat::automatic;  ///< see TableFormat
  /// Columns (CSV/TSV header names, or 0-based indices such as "1" when there is no
  /// header; JSON keys) whose values, joined with text_separator, make the text.
  std::vector<std::string> text_columns = {"text"};
  /// Put between text columns (HF's ag_news joins title and description with one space).
  std::string text_separator = " ";
  /// The label column or key; empty for unlabelled data (every label -1).
  std::string label_column = "label";
  /// CSV/TSV: the first record names the columns.
  bool header = true;
  /// CSV/TSV: honour `"` quoting; unset means yes for CSV and no for TSV.
  std::optional<bool> quoting;
  /// Label id -> name. When set, a label value equal to a name gets that name's position;
  /// other values must be integers (after label_offset) below the number of names.
  std::vector<std::string> label_names;
  /// Subtracted from integer labels (1 for files that number classes from 1).
  std::int64_t label_offset = 0;
  /// Number of classes when known without names (labels must then be below it); 0 means
  /// label_names.size() when names are given, else the largest label + 1. At most 100,000
  /// (ConfigError): a label of 1000000000 is taken for a damaged file, not that many classes.
  std::int64_t num_labels = 0;
  /// Dataset::name; empty means the file's stem.
  std::string name;
};

/// Reads `path` as a table of labelled texts.
///
/// CSV/TSV: every record must have as many fields as the first (FormatError at
/// `file:line` otherwise); blank lines are skipped (as pandas does); a UTF-8 byte order
/// mark at the start is dropped (it would otherwise become part of the first column's
/// name). JSON lines: blank lines are skipped, every other line must be an object, text
/// values must be strings, labels integers or strings. Labels are mapped as TableOptions
/// describes; a label that is not an integer, not a known name, or out of range is a
/// FormatError at `file:line`. Invalid UTF-8 is a FormatError naming the line and byte
/// offset. Rows keep the file's order; Dataset::meta holds `file:line` origins.
Dataset read_table(const std::filesystem::path& path, const TableOptions& options = {});

}  // namespace loraft::data
