#include "loraft/text/token_map.h"

#include <stdexcept>

namespace loraft::text {

void TokenMap::grow() {
  std::vector<std::uint64_t> old;
  old.swap(slots_);
  slots_.assign(old.empty() ? 64 : old.size() * 2, 0);
  filter_.assign(slots_.size() / 8, 0);  // 8 bits per slot, i.e. >= 16 per key
  const std::size_t mask = slots_.size() - 1;
  for (std::uint64_t s : old) {
    if (s == 0) continue;
    const char* rec = records_.data() + (static_cast<std::uint32_t>(s) - 1);
    const std::uint64_t h = hash(std::string_view(rec + 8, load32(rec + 4)));
    add_to_filter(h);
    std::size_t i = static_cast<std::size_t>(h) & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void TokenMap::insert_or_assign(std::string_view key, std::int32_t value) {
  if (value < 0) throw std::invalid_argument("TokenMap: values must be >= 0");
  if (records_.size() + key.size() + 12 >= 0xFFFFFFFFull)
    throw std::length_error("TokenMap: keys too long");
  // Keep the load factor at most 1/2, so that misses (common in WordPiece) stop early.
  if ((count_ + 1) * 2 > slots_.size()) grow();
  const std::uint64_t h = hash(key);
  const auto tag = static_cast<std::uint32_t>(h >> 32);
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = static_cast<std::size_t>(h) & mask;
  for (; slots_[i] != 0; i = (i + 1) & mask) {
    const std::uint64_t s = slots_[i];
    if (static_cast<std::uint32_t>(s >> 32) != tag) continue;
    char* rec = records_.data() + (static_cast<std::uint32_t>(s) - 1);
    if (load32(rec + 4) == key.size() && equal(rec + 8, key.data(), key.size())) {
      std::memcpy(rec, &value, 4);
      return;
    }
  }
  const auto offset = static_cast<std::uint32_t>(records_.size());
  const auto length = static_cast<std::uint32_t>(key.size());
  records_.append(reinterpret_cast<const char*>(&value), 4);
  records_.append(reinterpret_cast<const char*>(&length), 4);
  records_.append(key.data(), key.size());
  slots_[i] = (static_cast<std::uint64_t>(tag) << 32) | (static_cast<std::uint64_t>(offset) + 1);
  add_to_filter(h);
  ++count_;
  if (key.size() > max_key_size_) max_key_size_ = key.size();
}

}  // namespace loraft::text
