// Fuzz target: a paper profile (lib/loraft/paper/profile.cpp, Profile::load, with the
// data set specs of lib/loraft/data/source.cpp and the training settings of
// TrainConfig::from_json): unknown keys, the fetch table, model, vocabulary and data paths
// (resolved against the project, where the shipped ones exist), seeds, sweeps and ratios.
// Seeds: paper/profiles/*.json.
#include "fuzz_support.h"
#include "loraft/paper/profile.h"

using namespace loraft;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = fuzz::input_file("profile.json", data, size);
  return fuzz::guarded([&] {
    const paper::Profile p = paper::Profile::load(path.string(), fuzz::source_dir());
    fuzz::check(!p.seeds.empty() && p.sweep_seeds >= 1, "load() validates seeds");
    p.to_json(fuzz::source_dir());
  });
}
