// loraft-merge: a base checkpoint folder + a PEFT adapter (LoRA, DoRA or IA3) -> one merged
// transformers checkpoint folder (PEFT's merge_and_unload() followed by save_pretrained()).
#include <filesystem>
#include <iostream>

#include "common/app.h"
#include "loraft/adapter/adapters.h"
#include "loraft/io/file.h"
#include "loraft/model/pretrained.h"

namespace {

namespace fs = std::filesystem;

struct Flags {
  std::string model, adapter, output;
  void declare(loraft::app::Options& o) {
    o.required("model", model, "base checkpoint folder (config.json + model.safetensors)");
    o.required("adapter", adapter, "PEFT adapter folder (LoRA, DoRA or IA3: adapter_config.json + adapter_model.safetensors)");
    o.required("output", output, "folder for the merged checkpoint (created; files replaced atomically)");
  }
};

// The output must not be (or resolve to) an input: merging into the base folder would
// overwrite the weights that every later merge starts from.
void refuse_input_as_output(const fs::path& output, const fs::path& input, const char* flag) {
  if (fs::weakly_canonical(output) == fs::weakly_canonical(input))
    throw loraft::ConfigError(std::string("--output is the ") + flag + " folder", output.string(),
                              "a new folder for the merged checkpoint");
}

int merge(Flags& f) {
  const fs::path output = f.output;
  refuse_input_as_output(output, f.model, "--model");
  refuse_input_as_output(output, f.adapter, "--adapter");
  if (fs::exists(output) && !fs::is_directory(output))
    throw loraft::ConfigError("--output is a file", output.string(), "a folder (created if missing)");
  auto model = loraft::model::load_sequence_classification(f.model);
  const auto adapter = loraft::adapter::load_any_adapter(f.adapter, *model);
  loraft::adapter::merge_and_unload_any(*model, adapter);
  // Written beside the output, then put in its place in one step: a failure half-way leaves
  // the output as it was.
  const fs::path staging = loraft::io::temporary_path_for(output);
  try {
    loraft::model::save_pretrained(staging, model);
    // A checkpoint folder is only usable with its tokenizer: carry the vocabulary along.
    const fs::path vocab = fs::path(f.model) / "vocab.txt";
    if (fs::exists(vocab)) fs::copy_file(vocab, staging / "vocab.txt");
    loraft::io::commit_folder(staging, output);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw;
  }
  std::cerr << "merged " << adapter.description << " into " << f.output << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return loraft::app::run<Flags>(argc, argv, "loraft-merge",
                                 "Merges a PEFT adapter (LoRA, DoRA or IA3) into its base model and saves a "
                                 "transformers checkpoint folder.",
                                 merge);
}
