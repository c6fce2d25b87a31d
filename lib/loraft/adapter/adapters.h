#pragma once
/// @file
/// @brief Any PEFT adapter folder, whatever its method: loaded by its `peft_type`, merged where
/// the method allows it. For programs that take an adapter without being told its method
/// (loraft-predict, loraft-merge).

#include <cstdint>
#include <filesystem>
#include <string>

#include "loraft/model/distilbert.h"

namespace loraft::adapter {

/// What load_any_adapter() loaded.
struct LoadedAdapter {
  std::string peft_type;            ///< LORA (LoRA and DoRA), IA3, PROMPT_TUNING or kBottleneckType
  std::string description;          ///< e.g. "LoRA (r=8, scaling 4)", "IA3 (3 targets)", for messages
  std::int64_t virtual_tokens = 0;  ///< prompt tuning: the positions its virtual tokens take
};

/// Loads the adapter folder `dir` (PEFT's, or a bottleneck adapter of AdapterHub's `adapters`)
/// into the plain model `model` with the loader of its type (read_peft_type(): load_adapter(),
/// load_ia3_adapter(), load_prompt_adapter(), load_bottleneck_adapter()). ConfigError naming
/// the type for a method loraft does not implement.
LoadedAdapter load_any_adapter(const std::filesystem::path& dir, model::DistilBertForSequenceClassificationImpl& model);

/// Puts an adapter that load_any_adapter() loaded into the base weights and removes its
/// layers (PEFT's merge_and_unload): LoRA, DoRA and IA3. ConfigError for prompt tuning, which
/// changes the input, not the weights (PEFT has no merge for it either), and for bottleneck
/// adapters, whose non-linearity no weight change can express.
void merge_and_unload_any(model::DistilBertForSequenceClassificationImpl& model, const LoadedAdapter& adapter);

}  // namespace loraft::adapter
