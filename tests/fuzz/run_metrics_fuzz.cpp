// Fuzz target: the metrics.jsonl of a run folder (lib/loraft/train/run_directory.cpp,
// RunDirectory::metrics, which ignores a torn last line, and truncate_metrics_after, which a
// resumed run calls to drop the records of the steps it replays). Seeds: metrics.jsonl lines
// as the trainer writes them (tests/fuzz/seeds/run_metrics) and the JSON-lines fixtures.
#include <memory>

#include "fuzz_support.h"
#include "loraft/train/run_directory.h"

using namespace loraft;

namespace {

std::unique_ptr<train::RunDirectory> run;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  run = std::make_unique<train::RunDirectory>(fuzz::scratch_dir() / "runs", io::Json{{"fuzz", "run_metrics"}});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::write_file(run->path() / "metrics.jsonl", std::string_view(reinterpret_cast<const char*>(data), size));
  return fuzz::guarded([&] {
    const auto before = run->metrics();
    run->truncate_metrics_after(3);
    const auto after = run->metrics();
    fuzz::check(after.size() <= before.size(), "truncating keeps a subset");
  });
}
