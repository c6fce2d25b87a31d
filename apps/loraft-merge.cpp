// loraft-merge: a base checkpoint folder + a PEFT LoRA adapter -> one merged transformers
// checkpoint folder (PEFT's merge_and_unload() followed by save_pretrained()).
#include <filesystem>
#include <iostream>

#include "common/app.h"
#include "loraft/adapter/lora.h"
#include "loraft/adapter/peft_io.h"
#include "loraft/model/pretrained.h"

namespace {

namespace fs = std::filesystem;

struct Flags {
  std::string model, adapter, output;
  void declare(loraft::app::Options& o) {
    o.required("model", model, "base checkpoint folder (config.json + model.safetensors)");
    o.required("adapter", adapter, "PEFT adapter folder (adapter_config.json + adapter_model.safetensors)");
    o.required("output", output, "folder for the merged checkpoint (created; files replaced atomically)");
  }
};

int merge(Flags& f) {
  auto model = loraft::model::load_sequence_classification(f.model);
  const auto config = loraft::adapter::load_adapter(f.adapter, *model);
  const auto layers = loraft::adapter::lora_layers(*model).size();
  loraft::adapter::merge_and_unload(*model);
  loraft::model::save_pretrained(f.output, model);
  // A checkpoint folder is only usable with its tokenizer: carry the vocabulary along.
  const fs::path vocab = fs::path(f.model) / "vocab.txt";
  if (fs::exists(vocab))
    fs::copy_file(vocab, fs::path(f.output) / "vocab.txt", fs::copy_options::overwrite_existing);
  std::cerr << "merged " << layers << " LoRA layers (r=" << config.r << ", scaling "
            << config.scaling() << ") into " << f.output << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return loraft::app::run<Flags>(argc, argv, "loraft-merge",
                                 "Merges a PEFT LoRA adapter into its base model and saves a "
                                 "transformers checkpoint folder.",
                                 merge);
}
