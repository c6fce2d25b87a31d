#include "loraft/data/batcher.h"

#include <algorithm>
#include <random>

#include "loraft/core/error.h"

namespace loraft::data {

const char* to_string(Padding padding) {
  return padding == Padding::longest ? "longest" : "max_length";
}

Padding parse_padding(const std::string& name, const std::string& where) {
  if (name == "longest") return Padding::longest;
  if (name == "max_length") return Padding::max_length;
  throw ConfigError("unknown padding \"" + name + "\"", where, "longest or max_length");
}

void TokenRows::push_back(const std::vector<std::int32_t>& row, std::int64_t label) {
  if (offsets.empty()) offsets.push_back(0);
  ids.insert(ids.end(), row.begin(), row.end());
  offsets.push_back(static_cast<std::int64_t>(ids.size()));
  labels.push_back(label);
}

void TokenRows::validate(const std::string& where) const {
  if (offsets.size() != labels.size() + 1 && !(labels.empty() && offsets.empty()))
    throw FormatError("offsets and labels disagree in length", where, "rows + 1 offsets");
  for (std::size_t i = 1; i < offsets.size(); ++i)
    if (offsets[i] < offsets[i - 1])
      throw FormatError("offsets decrease at row " + std::to_string(i - 1), where,
                        "non-decreasing offsets");
  if (!offsets.empty() && (offsets.front() != 0 || offsets.back() != static_cast<std::int64_t>(ids.size())))
    throw FormatError("offsets do not span the ids", where, "offsets from 0 to the id count");
}

std::vector<std::int64_t> epoch_order(std::int64_t rows, bool shuffle, std::uint64_t seed,
                                      std::int64_t epoch) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) order[i] = i;
  if (!shuffle || rows < 2) return order;
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(epoch), static_cast<std::uint32_t>(epoch >> 32)};
  std::mt19937_64 rng(seq);
  for (std::int64_t i = rows - 1; i > 0; --i) {
    // Unbiased draw from [0, i] by rejection.
    const std::uint64_t bound = static_cast<std::uint64_t>(i) + 1;
    const std::uint64_t limit = std::mt19937_64::max() - std::mt19937_64::max() % bound;
    std::uint64_t r;
    do r = rng(); while (r >= limit);
    std::swap(order[i], order[r % bound]);
  }
  return order;
}

Batch make_batch(const TokenRows& rows, const std::vector<std::int64_t>& which, Padding padding,
                 std::int64_t max_length, std::int32_t pad_id) {
  std::int64_t width = 0;
  for (auto r : which) width = std::max(width, rows.length(r));
  if (padding == Padding::max_length) {
    if (width > max_length)
      throw ConfigError("a row has " + std::to_string(width) + " tokens, more than max_length",
                        "batching", "rows of at most " + std::to_string(max_length) + " tokens");
    width = max_length;
  }
  const std::int64_t b = static_cast<std::int64_t>(which.size());
  Batch out;
  out.input_ids = torch::full({b, width}, static_cast<std::int64_t>(pad_id), torch::kInt64);
  out.attention_mask = torch::zeros({b, width}, torch::kInt64);
  out.labels = torch::empty({b}, torch::kInt64);
  auto ids = out.input_ids.accessor<std::int64_t, 2>();
  auto mask = out.attention_mask.accessor<std::int64_t, 2>();
  auto labels = out.labels.accessor<std::int64_t, 1>();
  for (std::int64_t i = 0; i < b; ++i) {
    const std::int64_t r = which[i], begin = rows.offsets[r], n = rows.length(r);
    for (std::int64_t t = 0; t < n; ++t) {
      ids[i][t] = rows.ids[begin + t];
      mask[i][t] = 1;
    }
    labels[i] = rows.labels[r];
  }
  out.rows = which;
  return out;
}

Batcher::Batcher(const TokenRows& rows, BatchOptions options) : rows_(rows), options_(options) {
  if (options_.batch_size < 1)
    throw ConfigError("batch size must be positive", "BatchOptions.batch_size", ">= 1");
}

std::int64_t Batcher::num_batches() const {
  const std::int64_t n = rows_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

Batch Batcher::batch(std::int64_t epoch, std::int64_t index) const { return part(epoch, index, 0, 1); }

Batch Batcher::part(std::int64_t epoch, std::int64_t index, std::int64_t part, std::int64_t parts) const {
  if (index < 0 || index >= num_batches())
    throw ConfigError("batch index out of range", "Batcher", "0 <= index < num_batches()");
  if (parts < 1 || part < 0 || part >= parts)
    throw ConfigError("part " + std::to_string(part) + " of " + std::to_string(parts), "Batcher", "0 <= part < parts");
  if (epoch != cached_epoch_) {
    order_ = epoch_order(rows_.size(), options_.shuffle, options_.seed, epoch);
    cached_epoch_ = epoch;
  }
  const std::int64_t begin = index * options_.batch_size;
  const std::int64_t n = std::min(rows_.size(), begin + options_.batch_size) - begin;
  const std::int64_t first = begin + n * part / parts, last = begin + n * (part + 1) / parts;
  std::vector<std::int64_t> which(order_.begin() + first, order_.begin() + last);
  Batch out = make_batch(rows_, which, options_.padding, options_.max_length, options_.pad_id);
  out.epoch = epoch;
  out.position = first;
  out.whole_rows = n;
  return out;
}

}  // namespace loraft::data
