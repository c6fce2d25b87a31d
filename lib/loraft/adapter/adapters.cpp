#include "loraft/adapter/adapters.h"

#include <sstream>

#include "loraft/adapter/bottleneck.h"
#include "loraft/adapter/ia3.h"
#include "loraft/adapter/lora.h"
#include "loraft/adapter/peft_io.h"
#include "loraft/adapter/prompt_tuning.h"
#include "loraft/core/error.h"

namespace loraft::adapter {

LoadedAdapter load_any_adapter(const std::filesystem::path& dir, model::DistilBertForSequenceClassificationImpl& model) {
  LoadedAdapter out;
  out.peft_type = read_peft_type(dir);
  std::ostringstream what;
  if (out.peft_type == "LORA") {
    const LoraConfig c = load_adapter(dir, model);
    what << (c.use_dora ? "DoRA" : "LoRA") << " (r=" << c.r << ", scaling " << c.scaling() << ", "
         << lora_layers(model).size() << " layers)";
  } else if (out.peft_type == "IA3") {
    load_ia3_adapter(dir, model);
    what << "IA3 (" << ia3_layers(model).size() << " layers)";
  } else if (out.peft_type == "PROMPT_TUNING") {
    const PromptTuningConfig c = load_prompt_adapter(dir, model);
    out.virtual_tokens = c.num_virtual_tokens;
    what << "prompt tuning (" << c.num_virtual_tokens << " virtual tokens)";
  } else if (out.peft_type == kBottleneckType) {
    const BottleneckConfig c = load_bottleneck_adapter(dir, model);
    what << "bottleneck adapter (" << to_string(c.variant) << ", reduction factor " << c.reduction_factor << ")";
  } else {
    throw ConfigError("peft_type " + out.peft_type + " is not a method loraft implements",
                      (dir / "adapter_config.json").string(), "LORA, IA3, PROMPT_TUNING or an adapters bottleneck folder");
  }
  out.description = what.str();
  return out;
}

void merge_and_unload_any(model::DistilBertForSequenceClassificationImpl& model, const LoadedAdapter& adapter) {
  if (adapter.peft_type == "LORA") return merge_and_unload(model);
  if (adapter.peft_type == "IA3") return merge_and_unload_ia3(model);
  throw ConfigError(adapter.description + " cannot be merged: " +
                        (adapter.peft_type == kBottleneckType ? "its non-linear layers are not a change of the weights"
                                                              : "its virtual tokens are inputs, not weight changes"),
                    "merge", "a LoRA, DoRA or IA3 adapter (PEFT and adapters have no such merge either)");
}

}  // namespace loraft::adapter
