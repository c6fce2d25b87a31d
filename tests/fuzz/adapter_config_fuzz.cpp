// Fuzz target: the adapter_config.json of a PEFT adapter folder (lib/loraft/adapter/
// lora_config.cpp, from_peft_json; lib/loraft/adapter/peft_io.cpp, read_adapter_config and
// load_adapter, which checks r against the saved matrices before injecting LoRA into a model).
// The folder holds the input as adapter_config.json next to the LoRA fixture's
// adapter_model.safetensors; a config that reads is loaded into the tiny fixture model.
// Seeds: tests/fixtures/lora/adapter/adapter_config.json.
#include <ATen/Parallel.h>

#include "fuzz_support.h"
#include "loraft/adapter/peft_io.h"
#include "loraft/model/pretrained.h"

using namespace loraft;

namespace {

std::filesystem::path folder() { return fuzz::scratch_dir() / "adapter"; }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  at::set_num_threads(1);
  std::filesystem::create_directories(folder());
  std::filesystem::create_symlink(fuzz::source_dir() / "tests/fixtures/lora/adapter/adapter_model.safetensors",
                                  folder() / "adapter_model.safetensors");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input_file("adapter/adapter_config.json", data, size);
  return fuzz::guarded([&] {
    const adapter::LoraConfig config = adapter::read_adapter_config(folder());
    fuzz::check(config.r >= 1 && config.lora_alpha > 0, "read_adapter_config validates");
    auto m = model::load_sequence_classification(fuzz::source_dir() / "tests/fixtures/distilbert-tiny");
    adapter::load_adapter(folder(), *m);
  });
}
