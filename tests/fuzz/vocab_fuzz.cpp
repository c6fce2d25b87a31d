// Fuzz target: the vocab.txt reader (lib/loraft/text/vocab.cpp, Vocab::load: strict UTF-8,
// universal newlines, the last line of a repeated token winning) and a BertTokenizer built on
// what it read (lib/loraft/text/bert_tokenizer.cpp: special tokens looked up, text tokenized
// against an arbitrary vocabulary). Seeds: every vocab.txt under tests/fixtures and data/models.
#include "fuzz_support.h"
#include "loraft/text/bert_tokenizer.h"

using namespace loraft;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = fuzz::input_file("vocab.txt", data, size);
  return fuzz::guarded([&] {
    auto vocab = std::make_shared<const text::Vocab>(text::Vocab::load(path));
    fuzz::check(vocab->distinct_size() <= vocab->size(), "distinct tokens <= lines");
    for (std::int32_t id = 0; id < static_cast<std::int32_t>(vocab->size()); ++id) {
      const std::int32_t found = vocab->find(vocab->token(id));
      fuzz::check(found >= id && vocab->token(found) == vocab->token(id), "a token maps to its last line");
    }
    text::BertTokenizer tokenizer(vocab);  // ConfigError without [CLS], [SEP], ...
    const auto e = tokenizer.encode("Hello, wörld! [SEP] 日本語 unaffable ##ing", 32);
    fuzz::check(e.input_ids.size() == 32, "padded to max_length");
  });
}
