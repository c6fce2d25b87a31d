// Fuzz target: the summary.json of a run folder (lib/loraft/train/run_directory.cpp,
// RunDirectory::summary): a finished run's record whose output_checksums are checked against
// the files of final/ before the run is reused. The run folder and its final/ (the files of a
// LoRA run) are made once; each input is summary.json. Seeds: a summary as write_summary() writes it
// (tests/fuzz/seeds/run_summary) and the JSON fixtures.
#include <memory>

#include "fuzz_support.h"
#include "loraft/train/run_directory.h"

using namespace loraft;

namespace {

std::unique_ptr<train::RunDirectory> run;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  run = std::make_unique<train::RunDirectory>(fuzz::scratch_dir() / "runs", io::Json{{"fuzz", "run_summary"}});
  fuzz::write_file(run->path() / "final/adapter_config.json", "{}\n");
  fuzz::write_file(run->path() / "final/adapter_model.safetensors", "weights");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::write_file(run->path() / "summary.json", std::string_view(reinterpret_cast<const char*>(data), size));
  return fuzz::guarded([&] { run->summary(); });
}
