#pragma once
/// @file
/// @brief A list of words stored back to back in one buffer.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace loraft::text {

class BasicTokenizer;

/// The words BasicTokenizer produces, as views into one reusable buffer.
///
/// Tokenizing a review yields hundreds of words; one std::string each would cost an
/// allocation per word. A WordList that is cleared and refilled reuses its memory, so a
/// thread that tokenizes many texts stops allocating after the first few.
class WordList {
 public:
  /// Removes all words, keeping the memory.
  void clear() noexcept {
    size_ = 0;
    ends_.clear();
  }
  /// Number of words.
  std::size_t size() const noexcept { return ends_.size(); }
  /// True when there are no words.
  bool empty() const noexcept { return ends_.empty(); }
  /// Word `i` (valid until the list changes).
  std::string_view operator[](std::size_t i) const noexcept {
    const std::size_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(buffer_.data() + begin, ends_[i] - begin);
  }
  /// Appends a word (an empty one is ignored, as `str.split()` never yields one).
  void push_back(std::string_view word) {
    if (word.empty()) return;
    put(word.data(), word.size());
    end_word();
  }
  /// The words as strings (for tests and small inputs).
  std::vector<std::string> to_vector() const {
    std::vector<std::string> out;
    out.reserve(size());
    for (std::size_t i = 0; i < size(); ++i) out.emplace_back((*this)[i]);
    return out;
  }

 private:
  friend class BasicTokenizer;  // builds words in place, without a temporary per word

  // The byte buffer: buffer_.size() is the capacity, size_ the bytes in use. Writing
  // through a pointer into space that is already there keeps the per-byte loops of
  // BasicTokenizer free of std::string's out-of-line append calls.
  char* room(std::size_t extra) {
    if (size_ + extra > buffer_.size()) buffer_.resize(std::max(size_ + extra, 2 * buffer_.size() + 64));
    return buffer_.data() + size_;
  }
  void put(char c) { *room(1) = c, ++size_; }
  void put(const char* p, std::size_t n) {
    std::memcpy(room(n), p, n);
    size_ += n;
  }
  void put_utf8(std::uint32_t cp) {
    char* w = room(4);
    if (cp < 0x80) {
      w[0] = static_cast<char>(cp);
      size_ += 1;
    } else if (cp < 0x800) {
      w[0] = static_cast<char>(0xC0 | (cp >> 6));
      w[1] = static_cast<char>(0x80 | (cp & 0x3F));
      size_ += 2;
    } else if (cp < 0x10000) {
      w[0] = static_cast<char>(0xE0 | (cp >> 12));
      w[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      w[2] = static_cast<char>(0x80 | (cp & 0x3F));
      size_ += 3;
    } else {
      w[0] = static_cast<char>(0xF0 | (cp >> 18));
      w[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      w[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      w[3] = static_cast<char>(0x80 | (cp & 0x3F));
      size_ += 4;
    }
  }
  // Ends the current word at the current size (callers make sure it is not empty).
  void end_word() { ends_.push_back(static_cast<std::uint32_t>(size_)); }
  std::string_view bytes(std::size_t from) const noexcept {
    return std::string_view(buffer_.data() + from, size_ - from);
  }

  std::vector<char> buffer_;
  std::size_t size_ = 0;
  std::vector<std::uint32_t> ends_;
};

}  // namespace loraft::text
