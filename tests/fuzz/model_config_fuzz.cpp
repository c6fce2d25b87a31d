// Fuzz target: the config.json of a checkpoint folder (lib/loraft/model/config.cpp,
// DistilBertConfig::from_file and validate; lib/loraft/model/pretrained.cpp, load_config and
// load_sequence_classification, which checks the config against the weights' header before
// allocating the model). The folder holds the input as config.json next to the tiny
// fixture's model.safetensors. Seeds: every config.json under tests/fixtures and data/models.
#include <ATen/Parallel.h>

#include "fuzz_support.h"
#include "loraft/model/pretrained.h"

using namespace loraft;

namespace {

std::filesystem::path folder() { return fuzz::scratch_dir() / "checkpoint"; }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  at::set_num_threads(1);
  std::filesystem::create_directories(folder());
  std::filesystem::create_symlink(fuzz::source_dir() / "tests/fixtures/distilbert-tiny/model.safetensors",
                                  folder() / model::kWeightsFile);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input_file("checkpoint/config.json", data, size);
  return fuzz::guarded([&] {
    const model::DistilBertConfig config = model::load_config(folder());
    fuzz::check(config.num_labels() >= 1 && config.dim % config.n_heads == 0, "load_config validates");
    model::load_sequence_classification(folder());
  });
}
