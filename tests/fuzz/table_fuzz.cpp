// Fuzz target: data::read_table (lib/loraft/data/table.cpp), the generic reader of labelled
// CSV, TSV and JSON-lines files: byte order mark, header and column lookup, records of the
// wrong width, UTF-8, labels as integers, names and offsets, JSON lines with missing or
// mistyped keys. The last input byte picks the format and the options; the rest is the file.
// Seeds: data/samples/ag_news/*.csv, tests/fixtures/distilbert-tiny/inputs.jsonl and the
// tokenizer cases (JSON lines).
#include "fuzz_support.h"
#include "loraft/data/table.h"

using namespace loraft;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t choice = data[size - 1];
  data::TableOptions options;
  // The format from the extension (bits 0-1), the options from bits 2-6.
  const char* names[] = {"input.csv", "input.tsv", "input.jsonl", "input.ndjson"};
  const auto path = fuzz::input_file(names[choice & 3], data, size - 1);
  if (choice & 4) {  // no header: columns by index, as for ag_news' train.csv
    options.header = false;
    options.text_columns = {"1", "2"};
    options.label_column = "0";
    options.label_offset = 1;
  }
  if (choice & 8) options.label_names = {"World", "Sports", "Business", "Sci/Tech"};
  if (choice & 16) options.label_column.clear();  // unlabelled
  if (choice & 32) options.quoting = true;
  if (choice & 64) options.text_columns = {"text", "label"};
  return fuzz::guarded([&] {
    const data::Dataset d = data::read_table(path, options);
    fuzz::check_no_error([&] { d.validate(); }, "a reader's data set passes Dataset::validate()");
    fuzz::check(!d.texts.empty() && d.meta.size() == d.texts.size(), "rows with their origins");
  });
}
