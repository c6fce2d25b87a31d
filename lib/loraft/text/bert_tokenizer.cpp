#include "loraft/text/bert_tokenizer.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "loraft/core/error.h"
#include "loraft/core/threads.h"
#include "loraft/text/unicode.h"
#include "loraft/text/utf8.h"
#include "loraft/text/word_list.h"

namespace loraft::text {
namespace {

// Bump when a change to this code could change ids for some text: caches keyed on
// fingerprint() then rebuild instead of serving stale ids.
constexpr int kAlgorithmVersion = 1;

std::vector<std::string> special_texts(const BertTokenizerOptions& o) {
  // HF's all_special_tokens order (unk, sep, pad, cls, mask).
  return {o.unk_token, o.sep_token, o.pad_token, o.cls_token, o.mask_token};
}

BasicTokenizerOptions basic_options(const BertTokenizerOptions& o) {
  BasicTokenizerOptions b;
  b.do_lower_case = o.do_lower_case;
  b.tokenize_chinese_chars = o.tokenize_chinese_chars;
  b.strip_accents = o.strip_accents;
  // BertTokenizer._tokenize calls basic_tokenizer.tokenize(text, never_split=all_special_tokens).
  b.never_split = special_texts(o);
  return b;
}

// Per-thread buffers, so that encoding many texts stops allocating after the first few.
struct Scratch {
  WordList words;
  std::vector<std::int32_t> first, second;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace

BertTokenizer::BertTokenizer(std::shared_ptr<const Vocab> vocab, BertTokenizerOptions options)
    : vocab_(std::move(vocab)),
      options_(std::move(options)),
      basic_(basic_options(options_)),
      wordpiece_(vocab_, options_.unk_token, options_.max_input_chars_per_word) {
  if (!vocab_) throw ConfigError("BertTokenizer needs a vocabulary");
  for (const std::string& s : special_texts(options_)) {
    if (s.empty()) throw ConfigError("a special token is empty", "BertTokenizerOptions");
    check_utf8(s, "BertTokenizerOptions special token");
    if (options_.do_lower_case) {
      // HF lower-cases the text except special tokens, and only then cuts the special
      // tokens out. When every special token contains a character that lower() changes
      // (and none overlaps another, as with BERT's), lower-casing can neither create nor
      // break one, so cutting them out of the original text (what tokenize() does) is the
      // same.
      bool changes = false;
      for (std::size_t i = 0; i < s.size() && !changes;) {
        std::uint32_t l[2];
        const auto cp = static_cast<std::uint32_t>(decode_utf8(s, i));
        changes = python_lower(cp, l) != 1 || l[0] != cp;
      }
      if (!changes)
        throw ConfigError("special token \"" + s + "\" has no character that lower-casing changes",
                          "BertTokenizerOptions", "special tokens such as [CLS] when do_lower_case");
    }
    specials_.push_back({s, vocab_->id(s)});
    special_first_byte_[static_cast<unsigned char>(s[0])] = true;
  }
  for (const Special& s : specials_) {
    const int b = static_cast<unsigned char>(s.text[0]);
    single_first_byte_ = (&s == &specials_.front() || single_first_byte_ == b) ? b : -2;
  }
  if (single_first_byte_ < 0) single_first_byte_ = -1;
  special_.cls = vocab_->id(options_.cls_token);
  special_.sep = vocab_->id(options_.sep_token);
  special_.pad = vocab_->id(options_.pad_token);
  mask_id_ = vocab_->id(options_.mask_token);
}

BertTokenizer BertTokenizer::from_file(const std::filesystem::path& vocab_file,
                                       BertTokenizerOptions options) {
  return BertTokenizer(std::make_shared<const Vocab>(Vocab::load(vocab_file)), std::move(options));
}

void BertTokenizer::append_token_ids(std::string_view text, std::vector<std::int32_t>& ids) const {
  check_utf8(text);  // here, so that the error names the offset in the whole text
  WordList& words = scratch().words;
  auto run_segment = [&](std::string_view segment) {
    words.clear();
    basic_.split(segment, words);
    wordpiece_.append_ids(words, ids);
  };
  // tokens_trie.split: cut at the earliest occurrence of any special token, the longest
  // one where several start at the same place (the five BERT tokens never overlap).
  const std::size_t n = text.size();
  std::size_t segment_start = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (single_first_byte_ >= 0) {  // BERT's tokens all start with '[': memchr to the next
      const void* hit = std::memchr(text.data() + i, single_first_byte_, n - i);
      if (!hit) break;
      i = static_cast<std::size_t>(static_cast<const char*>(hit) - text.data());
    } else if (!special_first_byte_[static_cast<unsigned char>(text[i])]) {
      continue;
    }
    const Special* match = nullptr;
    for (const Special& s : specials_) {
      if (s.text.size() <= n - i && std::memcmp(text.data() + i, s.text.data(), s.text.size()) == 0 &&
          (!match || s.text.size() > match->text.size()))
        match = &s;
    }
    if (!match) continue;
    run_segment(text.substr(segment_start, i - segment_start));
    ids.push_back(match->id);  // _added_tokens_encoder: the special token's own id
    i += match->text.size() - 1;
    segment_start = i + 1;
  }
  run_segment(text.substr(segment_start));
}

std::vector<std::int32_t> BertTokenizer::token_ids(std::string_view text) const {
  std::vector<std::int32_t> ids;
  append_token_ids(text, ids);
  return ids;
}

std::vector<std::string> BertTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> out;
  for (std::int32_t id : token_ids(text)) out.emplace_back(vocab_->token(id));
  return out;
}

Encoding BertTokenizer::encode(std::string_view text, int max_length, bool truncation,
                               Padding padding) const {
  std::vector<std::int32_t>& ids = scratch().first;
  ids.clear();
  append_token_ids(text, ids);
  return build_encoding(ids, nullptr, special_, max_length, truncation, padding);
}

Encoding BertTokenizer::encode_pair(std::string_view a, std::string_view b, int max_length,
                                    bool truncation, Padding padding) const {
  Scratch& s = scratch();
  s.first.clear();
  s.second.clear();
  append_token_ids(a, s.first);
  append_token_ids(b, s.second);
  return build_encoding(s.first, &s.second, special_, max_length, truncation, padding);
}

std::vector<Encoding> BertTokenizer::encode_batch(const std::vector<std::string>& texts,
                                                  int max_length, bool truncation, Padding padding,
                                                  int threads) const {
  std::vector<Encoding> out(texts.size());
  parallel_for(
      texts.size(),
      [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) {
          try {
            out[i] = encode(texts[i], max_length, truncation, padding);
          } catch (const FormatError& e) {
            throw FormatError(e.problem(), "texts[" + std::to_string(i) + "]", e.expected());
          }
        }
      },
      threads);
  return out;
}

std::string BertTokenizer::fingerprint() const {
  nlohmann::ordered_json j;
  j["tokenizer"] = "loraft.text.BertTokenizer";
  j["algorithm"] = kAlgorithmVersion;
  j["reference"] = "transformers 4.46.3 BertTokenizer (slow)";
  j["vocab_sha256"] = vocab_->sha256();
  j["do_lower_case"] = options_.do_lower_case;
  j["strip_accents"] = basic_.strips_accents();
  j["tokenize_chinese_chars"] = options_.tokenize_chinese_chars;
  j["max_input_chars_per_word"] = options_.max_input_chars_per_word;
  j["special_tokens"] = {{"unk", options_.unk_token}, {"sep", options_.sep_token},
                         {"pad", options_.pad_token}, {"cls", options_.cls_token},
                         {"mask", options_.mask_token}};
  j["unicode"] = std::string(kReferenceUnicodeVersion) + " (utf8proc " +
                 utf8proc_unicode_data_version() + ")";
  return j.dump();
}

}  // namespace loraft::text
