#include "loraft/text/wordpiece_tokenizer.h"

#include <algorithm>

#include "loraft/core/error.h"
#include "loraft/text/unicode.h"
#include "loraft/text/utf8.h"

namespace loraft::text {

WordpieceTokenizer::WordpieceTokenizer(std::shared_ptr<const Vocab> vocab, std::string unk_token,
                                       int max_input_chars_per_word)
    : vocab_(std::move(vocab)), unk_token_(std::move(unk_token)), max_chars_(max_input_chars_per_word) {
  if (!vocab_) throw ConfigError("WordpieceTokenizer needs a vocabulary");
  unk_id_ = vocab_->id(unk_token_);
  if (max_chars_ < 0)
    throw ConfigError("max_input_chars_per_word is negative", "WordpieceTokenizer",
                      "a count of characters, 100 in BERT");
}

void WordpieceTokenizer::append_ids(std::string_view word, std::vector<std::int32_t>& ids) const {
  if (word.empty()) return;
  // `len(chars) > max_input_chars_per_word` counts code points; a UTF-8 word has at most as
  // many code points as bytes, so short words skip the count.
  const auto max_chars = static_cast<std::size_t>(max_chars_);
  if (word.size() > max_chars && count_code_points(word) > max_chars) {
    ids.push_back(unk_id_);
    return;
  }
  // Most words are in the vocabulary whole: the first candidate of split_word's loop.
  if (word.size() <= vocab_->max_token_size()) {
    std::int32_t id = vocab_->find(word);
    if (id >= 0) {
      ids.push_back(id);
      return;
    }
  }
  split_word(word, ids);
}

void WordpieceTokenizer::append_ids(const WordList& words, std::vector<std::int32_t>& ids) const {
  // A software pipeline over the words: word i + 2D is hashed and its slot prefetched,
  // word i + D has its record prefetched (its slot has arrived by then), and word i is
  // looked up. The lookups are exactly append_ids(word)'s; only their memory traffic is
  // issued early, so that the cache misses of different words overlap.
  constexpr std::size_t kDistance = 8;
  constexpr std::size_t kRing = 32;  // > 2 * kDistance, a power of two
  const TokenMap& map = vocab_->map();
  const std::size_t max_chars = static_cast<std::size_t>(max_chars_);
  const std::size_t n = words.size();
  std::uint64_t hashes[kRing];
  for (std::size_t i = 0; i < n + 2 * kDistance; ++i) {
    if (i < n) {
      hashes[i % kRing] = TokenMap::hash(words[i]);
      map.prefetch_slot(hashes[i % kRing]);
    }
    if (i >= kDistance && i - kDistance < n) map.prefetch_record(hashes[(i - kDistance) % kRing]);
    if (i < 2 * kDistance || i - 2 * kDistance >= n) continue;
    const std::size_t w = i - 2 * kDistance;
    const std::string_view word = words[w];
    if (word.empty()) continue;
    if (word.size() > max_chars && count_code_points(word) > max_chars) {
      ids.push_back(unk_id_);
      continue;
    }
    const std::int32_t id = map.find(word, hashes[w % kRing]);
    if (id >= 0)
      ids.push_back(id);
    else
      split_word(word, ids);
  }
}

void WordpieceTokenizer::split_word(std::string_view word, std::vector<std::int32_t>& ids) const {
  const Vocab& v = *vocab_;
  const std::size_t mark = ids.size();
  const std::size_t n = word.size();
  std::size_t start = 0;
  while (start < n) {
    // Candidates run from the longest to the shortest substring that ends on a code point
    // boundary. Any candidate longer than the longest vocabulary entry cannot match, so the
    // search starts at that length: the same first match as trying every end from n down.
    const std::size_t longest = start == 0 ? v.max_token_size() : v.max_continuation_size();
    std::size_t end = std::min(n, start + longest);
    while (end > start && end < n && is_utf8_continuation(word[end])) --end;
    std::int32_t found = -1;
    while (end > start) {
      const std::string_view sub = word.substr(start, end - start);
      found = start == 0 ? v.find(sub) : v.find_continuation(sub);  // "##" + sub
      if (found >= 0) break;
      do {
        --end;
      } while (end > start && is_utf8_continuation(word[end]));
    }
    if (found < 0) {  // is_bad: the whole word is unknown
      ids.resize(mark);
      ids.push_back(unk_id_);
      return;
    }
    ids.push_back(found);
    start = end;
  }
}

std::vector<std::string> WordpieceTokenizer::tokenize(std::string_view text) const {
  check_utf8(text);
  std::vector<std::int32_t> ids;
  std::size_t i = 0, word_start = 0;
  auto flush = [&](std::size_t end) {
    if (end > word_start) append_ids(text.substr(word_start, end - word_start), ids);
  };
  while (i < text.size()) {
    const std::size_t at = i;
    const auto cp = static_cast<std::uint32_t>(decode_utf8(text, i));
    if (is_python_whitespace(cp)) {
      flush(at);
      word_start = i;
    }
  }
  flush(text.size());
  std::vector<std::string> out;
  out.reserve(ids.size());
  // Every id comes from a lookup of the piece's own string (or is unk), so the vocabulary
  // line of the id is the piece.
  for (std::int32_t id : ids) out.emplace_back(vocab_->token(id));
  return out;
}

}  // namespace loraft::text
