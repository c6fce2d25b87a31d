#pragma once
/// @file
/// @brief Data sets named by a short spec, as programs and paper profiles name them:
/// `imdb:<root>:<split>`, `ag_news:<file.csv>`, `csv:<file>`, `tsv:<file>`, `jsonl:<file>`.

#include <cstdint>
#include <filesystem>
#include <string>

#include "loraft/data/dataset.h"
#include "loraft/data/table.h"

namespace loraft::data {

/// A parsed data set spec.
struct DatasetSpec {
  std::string kind;              ///< "imdb", "ag_news", "csv", "tsv" or "jsonl"
  std::filesystem::path path;    ///< aclImdb root, or the file
  std::string split;             ///< imdb only: "train" or "test"
  TableOptions table;            ///< csv/tsv/jsonl only: columns and labels
};

/// Parses `imdb:<root>:<split>`, `ag_news:<file>`, `csv:<file>`, `tsv:<file>` or
/// `jsonl:<file>`. ConfigError naming `where` (e.g. "--train") for anything else.
DatasetSpec parse_dataset_spec(const std::string& spec, const std::string& where);

/// Reads the data set a spec names (read_imdb, read_ag_news_csv or read_table).
Dataset read_dataset(const DatasetSpec& spec);

/// A seeded random subset of `n` examples (all of them when n <= 0 or n >= size), in their
/// original order, for smoke runs and small profiles. The name and recipe record the
/// subset, so its cache and run records never meet those of the whole set.
Dataset subset(const Dataset& dataset, std::int64_t n, std::uint64_t seed);

}  // namespace loraft::data
