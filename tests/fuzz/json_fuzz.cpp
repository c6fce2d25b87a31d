// Fuzz target: io::read_json and io::for_each_json_line (lib/loraft/io/json.cpp), the JSON and
// JSON-lines readers under config.json, adapter_config.json, train.json, profiles, manifests,
// run records and JSON-lines data: syntax errors located as file:line:column, numbers past
// double's range. Seeds: the *.json and *.jsonl files of tests/fixtures, paper/profiles and
// data/models.
#include "fuzz_support.h"
#include "loraft/io/json.h"

using namespace loraft;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = fuzz::input_file("input.json", data, size);
  fuzz::guarded([&] { io::read_json(path); });
  fuzz::guarded([&] {
    long long previous = 0;
    io::for_each_json_line(path, [&](const io::Json&, long long line) {
      fuzz::check(line > previous, "line numbers increase");
      previous = line;
    });
  });
  return 0;
}
