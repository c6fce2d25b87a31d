#pragma once
/// @file
/// @brief A compact hash map from token strings to ids, built for WordPiece's many lookups.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace loraft::text {

/// Open-addressing hash map from byte strings to int32 ids.
///
/// WordPiece looks up every word, and every candidate piece of the words it must split, so a
/// lookup should cost one hash of a short string and about one cache miss. Each slot is 8
/// bytes (a 32-bit hash tag and the offset of its record), which keeps the table of a
/// 30k-token vocabulary at 512 KiB; the record holds the id, the length and the key bytes
/// together, so a hit touches one more cache line. Lookups take a string_view, so no
/// std::string is built to ask a question. The map owns its keys (copies stay valid).
class TokenMap {
 public:
  /// Sets `key` to `value` (>= 0); a later insert of the same key replaces the value.
  void insert_or_assign(std::string_view key, std::int32_t value);

  /// The value of `key`, or -1 when it is absent.
  std::int32_t find(std::string_view key) const noexcept { return find(key, hash(key)); }

  /// find() with the key's hash() already computed.
  std::int32_t find(std::string_view key, std::uint64_t h) const noexcept {
    if (!maybe_contains(h)) return -1;
    const auto tag = static_cast<std::uint32_t>(h >> 32);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
      const std::uint64_t s = slots_[i];
      if (s == 0) return -1;
      if (static_cast<std::uint32_t>(s >> 32) == tag) {
        const char* rec = records_.data() + (static_cast<std::uint32_t>(s) - 1);
        if (load32(rec + 4) == key.size() && equal(rec + 8, key.data(), key.size()))
          return static_cast<std::int32_t>(load32(rec));
      }
    }
  }

  /// Asks the CPU to fetch the slot where a key with hash `h` starts probing. Looking up
  /// the words of a text is bound by cache misses on a table too big for L2; fetching the
  /// slots of many words before looking any of them up overlaps those misses.
  void prefetch_slot(std::uint64_t h) const noexcept {
    if (maybe_contains(h)) __builtin_prefetch(&slots_[static_cast<std::size_t>(h) & (slots_.size() - 1)]);
  }

  /// Asks the CPU to fetch the record the first slot for hash `h` points to (after
  /// prefetch_slot(h) had time to land), the second miss of a lookup.
  void prefetch_record(std::uint64_t h) const noexcept {
    if (!maybe_contains(h)) return;
    const std::uint64_t s = slots_[static_cast<std::size_t>(h) & (slots_.size() - 1)];
    if (s != 0) __builtin_prefetch(records_.data() + (static_cast<std::uint32_t>(s) - 1));
  }

  /// Number of distinct keys.
  std::size_t size() const noexcept { return count_; }

  /// Length in bytes of the longest key: no longer string can match, which bounds the
  /// candidates WordPiece needs to try.
  std::size_t max_key_size() const noexcept { return max_key_size_; }

  /// The hash of a key: overlapping 4- and 8-byte loads instead of a loop over bytes,
  /// because tokens are short.
  static std::uint64_t hash(std::string_view key) noexcept {
    const char* p = key.data();
    const std::size_t n = key.size();
    std::uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
    if (n >= 8) {
      std::size_t i = 0;
      for (; i + 8 < n; i += 8) h = mix(h ^ load64(p + i));
      h = mix(h ^ load64(p + n - 8));  // the last 8 bytes, overlapping the previous block
    } else if (n >= 4) {
      h = mix(h ^ (load32(p) | (static_cast<std::uint64_t>(load32(p + n - 4)) << 32)));
    } else if (n > 0) {
      const auto b = [p](std::size_t k) { return static_cast<std::uint64_t>(static_cast<unsigned char>(p[k])); };
      h = mix(h ^ ((b(0) << 16) | (b(n >> 1) << 8) | b(n - 1)));  // covers all of n <= 3
    }
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 33;
    return h;
  }

 private:
  static std::uint64_t load64(const char* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  static std::uint32_t load32(const char* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  static std::uint64_t mix(std::uint64_t h) noexcept {
    h *= 0x9FB21C651E98DF25ull;
    return h ^ (h >> 29);
  }
  // Byte equality without a call to memcmp: the same overlapping loads as hash().
  static bool equal(const char* a, const char* b, std::size_t n) noexcept {
    if (n >= 8) {
      for (std::size_t i = 0; i + 8 < n; i += 8)
        if (load64(a + i) != load64(b + i)) return false;
      return load64(a + n - 8) == load64(b + n - 8);
    }
    if (n >= 4) return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
    if (n > 0) return a[0] == b[0] && a[n >> 1] == b[n >> 1] && a[n - 1] == b[n - 1];
    return true;
  }
  // A one-hash Bloom filter with 16 bits per key at most half full (64 KiB for BERT's
  // vocabulary, small enough to stay in cache): WordPiece's candidates mostly miss, and
  // most misses are settled here without touching the big slot table.
  bool maybe_contains(std::uint64_t h) const noexcept {
    if (filter_.empty()) return false;
    const std::size_t bit = static_cast<std::size_t>(h >> 20) & (filter_.size() * 64 - 1);
    return (filter_[bit >> 6] >> (bit & 63)) & 1;
  }
  void add_to_filter(std::uint64_t h) noexcept {
    const std::size_t bit = static_cast<std::size_t>(h >> 20) & (filter_.size() * 64 - 1);
    filter_[bit >> 6] |= std::uint64_t{1} << (bit & 63);
  }
  void grow();

  std::vector<std::uint64_t> slots_;  // 0: empty; else tag << 32 | (record offset + 1)
  std::string records_;               // per key: int32 value, uint32 length, key bytes
  std::vector<std::uint64_t> filter_; // slots_.size() * 8 bits
  std::size_t count_ = 0;
  std::size_t max_key_size_ = 0;
};

}  // namespace loraft::text
