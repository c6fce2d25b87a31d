#include "loraft/data/source.h"

#include <algorithm>

#include "loraft/core/error.h"
#include "loraft/data/ag_news.h"
#include "loraft/data/batcher.h"
#include "loraft/data/imdb.h"

namespace loraft::data {

DatasetSpec parse_dataset_spec(const std::string& spec, const std::string& where) {
  const std::string expected = "imdb:<root>:<split>, ag_news:<file>, csv:<file>, tsv:<file> or jsonl:<file>";
  const auto colon = spec.find(':');
  if (colon == std::string::npos || colon + 1 >= spec.size())
    throw ConfigError("data set spec \"" + spec + "\" has no kind", where, expected);
  DatasetSpec s;
  s.kind = spec.substr(0, colon);
  std::string rest = spec.substr(colon + 1);
  if (s.kind == "imdb") {
    const auto last = rest.rfind(':');
    if (last == std::string::npos)
      throw ConfigError("imdb spec \"" + spec + "\" names no split", where, "imdb:<root>:train or imdb:<root>:test");
    s.path = rest.substr(0, last);
    s.split = rest.substr(last + 1);
  } else if (s.kind == "ag_news" || s.kind == "csv" || s.kind == "tsv" || s.kind == "jsonl") {
    s.path = rest;
    if (s.kind != "ag_news") s.table.format = parse_table_format(s.kind);
  } else {
    throw ConfigError("unknown data set kind \"" + s.kind + "\"", where, expected);
  }
  return s;
}

Dataset read_dataset(const DatasetSpec& spec) {
  if (spec.kind == "imdb") return read_imdb(spec.path, spec.split);
  if (spec.kind == "ag_news") return read_ag_news_csv(spec.path);
  return read_table(spec.path, spec.table);
}

Dataset subset(const Dataset& dataset, std::int64_t n, std::uint64_t seed) {
  const auto size = static_cast<std::int64_t>(dataset.size());
  if (n <= 0 || n >= size) return dataset;
  std::vector<std::int64_t> chosen = epoch_order(size, /*shuffle=*/true, seed, /*epoch=*/0);
  chosen.resize(static_cast<std::size_t>(n));
  std::sort(chosen.begin(), chosen.end());
  Dataset out;
  out.name = dataset.name + "[" + std::to_string(n) + "@" + std::to_string(seed) + "]";
  out.label_names = dataset.label_names;
  out.source_sha256 = dataset.source_sha256;
  out.sources = dataset.sources;
  out.recipe = dataset.recipe + "; subset " + std::to_string(n) + " seed " + std::to_string(seed);
  for (auto i : chosen) {
    out.texts.push_back(dataset.texts[i]);
    out.labels.push_back(dataset.labels[i]);
    if (!dataset.meta.empty()) out.meta.push_back(dataset.meta[i]);
  }
  return out;
}

}  // namespace loraft::data
