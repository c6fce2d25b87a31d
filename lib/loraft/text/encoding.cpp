#include "loraft/text/encoding.h"

#include <algorithm>
#include <string>

#include "loraft/core/error.h"

namespace loraft::text {

std::size_t Encoding::length() const noexcept {
  return static_cast<std::size_t>(std::count(attention_mask.begin(), attention_mask.end(), 1));
}

Encoding build_encoding(const std::vector<std::int32_t>& first,
                        const std::vector<std::int32_t>* second, const SpecialIds& special,
                        int max_length, bool truncation, Padding padding) {
  if (max_length <= 0 && (truncation || padding == Padding::max_length))
    throw ConfigError("max_length must be positive, got " + std::to_string(max_length),
                      "encode", "the number of tokens per row, e.g. 128");
  const bool pair = second != nullptr;
  std::size_t keep_first = first.size();
  std::size_t keep_second = pair ? second->size() : 0;
  const std::size_t total = keep_first + keep_second + (pair ? 3 : 2);
  const auto limit = static_cast<std::size_t>(std::max(max_length, 0));

  if (truncation && total > limit) {
    const std::size_t remove = total - limit;  // num_tokens_to_remove
    if (!pair) {
      // `if len(ids) > num_tokens_to_remove: ids = ids[:-num_tokens_to_remove]`, else an
      // error message and no truncation at all.
      if (keep_first > remove) keep_first -= remove;
    } else {
      const std::size_t len_ids = keep_first, len_pair = keep_second;
      const std::size_t diff = len_ids > len_pair ? len_ids - len_pair : len_pair - len_ids;
      const std::size_t first_remove = std::min(diff, remove);
      const std::size_t second_remove = remove - first_remove;
      std::size_t ids_to_move, pair_to_move;
      if (len_ids > len_pair) {
        ids_to_move = first_remove + second_remove / 2;
        pair_to_move = second_remove - second_remove / 2;
      } else {
        ids_to_move = second_remove / 2;
        pair_to_move = first_remove + second_remove - second_remove / 2;
      }
      // Python's ids[:-k] with k > len(ids) is empty.
      keep_first -= std::min(ids_to_move, keep_first);
      keep_second -= std::min(pair_to_move, keep_second);
    }
  }

  Encoding e;
  e.num_wordpieces = first.size() + (pair ? second->size() : 0);
  const std::size_t real = keep_first + keep_second + (pair ? 3 : 2);
  const std::size_t width =
      padding == Padding::max_length ? std::max(real, limit) : real;  // never pads shorter
  e.input_ids.reserve(width);
  e.input_ids.push_back(special.cls);
  e.input_ids.insert(e.input_ids.end(), first.begin(), first.begin() + static_cast<std::ptrdiff_t>(keep_first));
  e.input_ids.push_back(special.sep);
  const std::size_t first_part = e.input_ids.size();
  if (pair) {
    e.input_ids.insert(e.input_ids.end(), second->begin(),
                       second->begin() + static_cast<std::ptrdiff_t>(keep_second));
    e.input_ids.push_back(special.sep);
  }
  e.token_type_ids.assign(width, 0);
  std::fill(e.token_type_ids.begin() + static_cast<std::ptrdiff_t>(first_part),
            e.token_type_ids.begin() + static_cast<std::ptrdiff_t>(real), 1);
  e.attention_mask.assign(width, 0);
  std::fill(e.attention_mask.begin(), e.attention_mask.begin() + static_cast<std::ptrdiff_t>(real), 1);
  e.input_ids.resize(width, special.pad);
  return e;
}

}  // namespace loraft::text
