// Fuzz target: data::CsvParser (lib/loraft/data/csv.cpp), the RFC 4180 record splitter under
// every CSV and TSV reader: quoted fields with "" and line breaks, CRLF, an unterminated quote,
// text after a closing quote, an empty last field. The last input byte picks the dialect
// (delimiter ',' or tab, quoting, skipinitialspace); the rest is the file. Seeds: the CSV
// files of data/samples.
#include "fuzz_support.h"
#include "loraft/data/csv.h"

using namespace loraft;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t dialect = data[size - 1];
  const std::string_view bytes(reinterpret_cast<const char*>(data), size - 1);
  data::CsvOptions options;
  options.delimiter = dialect & 1 ? '\t' : ',';
  options.quoting = !(dialect & 2);
  options.skip_initial_space = dialect & 4;
  return fuzz::guarded([&] {
    data::CsvParser parser(bytes, "input.csv", options);
    data::CsvRecord record;
    long long previous_line = 0;
    std::size_t records = 0, field_bytes = 0;
    while (parser.next(record)) {
      fuzz::check(++records <= bytes.size(), "each record consumes input (no endless loop)");
      fuzz::check(record.line > previous_line && parser.line() >= record.line, "lines increase");
      previous_line = record.line;
      for (const auto& f : record.fields) field_bytes += f.size();
      fuzz::check(field_bytes <= bytes.size(), "fields hold input bytes only");
    }
  });
}
