// Fuzz target: text::BertTokenizer on arbitrary bytes (lib/loraft/text/bert_tokenizer.cpp,
// basic_tokenizer.cpp, wordpiece_tokenizer.cpp, unicode.cpp, utf8.cpp, encoding.cpp): UTF-8
// checking, special-token splitting, lower-casing and accent stripping, CJK and punctuation
// splitting, WordPiece, truncation and padding of single texts and pairs, with the cased and
// uncased options, over the shipped 30,522-token vocabulary. The input is one text, or two
// (a pair) when it holds a NUL byte. Seeds: the texts of tests/fixtures/tokenizer/*.jsonl and
// the sample reviews and news of data/samples.
#include <cstring>
#include <memory>

#include "fuzz_support.h"
#include "loraft/text/bert_tokenizer.h"

using namespace loraft;

namespace {

std::unique_ptr<text::BertTokenizer> uncased, cased;

void check_encoding(const text::Encoding& e, std::size_t max_length, const text::BertTokenizer& t) {
  fuzz::check(e.input_ids.size() == max_length && e.attention_mask.size() == max_length &&
                  e.token_type_ids.size() == max_length,
              "every row is max_length long");
  fuzz::check(e.length() >= 2 && e.length() <= max_length && e.input_ids[0] == t.cls_id(),
              "[CLS] first, within max_length");
  for (auto id : e.input_ids)
    fuzz::check(id >= 0 && static_cast<std::size_t>(id) < t.vocab().size(), "ids inside the vocabulary");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  auto vocab = std::make_shared<const text::Vocab>(
      text::Vocab::load(fuzz::source_dir() / "data/models/mini-distilbert/vocab.txt"));
  uncased = std::make_unique<text::BertTokenizer>(vocab);
  text::BertTokenizerOptions options;
  options.do_lower_case = false;
  cased = std::make_unique<text::BertTokenizer>(vocab, options);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto nul = input.find('\0');
  for (const text::BertTokenizer* t : {uncased.get(), cased.get()}) {
    fuzz::guarded([&] {
      if (nul == std::string_view::npos) {
        const auto tokens = t->tokenize(input);
        const auto e = t->encode(input, 64);
        fuzz::check(e.num_wordpieces == tokens.size(), "num_wordpieces counts tokenize()");
        check_encoding(e, 64, *t);
        const auto unpadded = t->encode(input, 16, /*truncation=*/true, text::Padding::none);
        fuzz::check(unpadded.input_ids.size() <= 16, "truncated to max_length");
      } else {
        check_encoding(t->encode_pair(input.substr(0, nul), input.substr(nul + 1), 48), 48, *t);
      }
    });
  }
  return 0;
}
