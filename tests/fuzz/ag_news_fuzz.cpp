// Fuzz target: data::read_ag_news_csv (lib/loraft/data/ag_news.cpp), the AG News CSV reader
// (universal newlines, csv.reader with skipinitialspace, three fields, classes 1..4, UTF-8).
// Seeds: data/samples/ag_news/train.csv and test.csv.
#include "fuzz_support.h"
#include "loraft/data/ag_news.h"

using namespace loraft;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = fuzz::input_file("ag_news/train.csv", data, size);
  return fuzz::guarded([&] {
    const data::Dataset d = data::read_ag_news_csv(path);
    fuzz::check_no_error([&] { d.validate(); }, "a reader's data set passes Dataset::validate()");
    fuzz::check(d.label_names.size() == 4 && !d.texts.empty(), "four classes, at least one row");
  });
}
