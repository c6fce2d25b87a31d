#pragma once
/// @file
/// @brief SHA-256 of bytes, strings and files (content keys for caches and manifests).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace loraft {

/// Incremental SHA-256 (FIPS 180-4, through OpenSSL's EVP interface).
class Sha256 {
 public:
  /// Starts an empty hash.
  Sha256();
  ~Sha256();
  /// Moves the running state.
  Sha256(Sha256&&) noexcept;
  /// Moves the running state.
  Sha256& operator=(Sha256&&) noexcept;

  /// Feeds bytes.
  Sha256& update(const void* data, std::size_t size);
  /// Feeds a string's bytes.
  Sha256& update(std::string_view s) { return update(s.data(), s.size()); }
  /// Feeds a string as length + bytes, so that ("ab","c") and ("a","bc") differ.
  Sha256& update_field(std::string_view s);
  /// Ends the hash and returns it as 64 lower-case hex digits; the object is then reset.
  std::string hex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// SHA-256 of a string, as 64 lower-case hex digits.
std::string sha256_hex(std::string_view data);

/// SHA-256 of a file's bytes, as 64 lower-case hex digits. Throws IoError if unreadable.
std::string sha256_file(const std::filesystem::path& path);

/// A generator seed that is a pure function of (seed, epoch, index): SplitMix64's finaliser
/// (Steele, Lea and Flood 2014) chained over the three numbers, below 2^63 (the recorded
/// values stay exact in JSON and in int64 tensors). What keys a block's masking or a
/// micro-batch's dropout to its place in the data rather than to the steps before it.
std::uint64_t keyed_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t index);

}  // namespace loraft
