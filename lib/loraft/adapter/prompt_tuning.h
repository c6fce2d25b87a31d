#pragma once
/// @file
/// @brief Prompt tuning (Lester et al. 2021) as PEFT 0.13.2's `PromptTuningConfig` runs it on a
/// DistilBertForSequenceClassification: nv learned vectors in front of every input, the encoder
/// frozen, the classification head trained in full. The model side is the generic
/// EmbeddingsImpl::add_virtual_tokens (loraft/model/distilbert.h); this file is PEFT's
/// configuration, initialisation, names and adapter folder around it.
///
/// What PEFT's `PeftModelForSequenceClassification.forward` (peft/peft_model.py, 0.13.2) feeds
/// the model, and so what the virtual tokens do here: `inputs_embeds = cat(prompt, word
/// embeddings)` (prompt first), the mask extended with ones, no position ids (the prompt takes
/// positions 0 ... nv-1), and the head reads the first virtual token's state
/// (tests/fixtures/README.md, "Prompt tuning").

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "loraft/io/json.h"
#include "loraft/io/settings.h"
#include "loraft/model/config.h"
#include "loraft/model/distilbert.h"

namespace loraft::adapter {

/// How the virtual tokens start: PEFT 0.13.2 `PromptTuningInit` (peft/tuners/prompt_tuning/config.py).
enum class PromptInit {
  random,  ///< RANDOM: `torch.nn.Embedding(nv, dim)`'s default init, N(0, 1)
  text,    ///< TEXT: the word-embedding rows of the tokenised init text
};

/// "random" or "text", the names of settings and flags.
const char* to_string(PromptInit init);
/// The PromptInit called `name` ("random", "text"); ConfigError naming `where` otherwise.
PromptInit parse_prompt_init(const std::string& name, const std::string& where);

/// Prompt tuning's configuration. Field names follow PEFT's `PromptTuningConfig`, so that
/// adapter_config.json reads the same in both.
struct PromptTuningConfig {
  /// Number of virtual tokens. PEFT 0.13.2 has no default (`PromptLearningConfig.num_virtual_tokens`
  /// is None, and building the PromptEmbedding then fails); 20 is the value of the example in
  /// PEFT's `PromptEmbedding` docstring (peft/tuners/prompt_tuning/model.py).
  std::int64_t num_virtual_tokens = 20;
  PromptInit prompt_tuning_init = PromptInit::random;  ///< how the virtual tokens start
  /// The init text (TEXT only). PEFT raises when it is None for TEXT; here empty means unset.
  std::string prompt_tuning_init_text;
  /// Modules trained in full next to the prompt. `PeftModelForSequenceClassification.__init__`
  /// (peft/peft_model.py, 0.13.2) adds ["classifier", "score"] for every method, prompt
  /// learning included, and `_set_trainable` matches them by suffix, so DistilBERT's
  /// `pre_classifier` and `classifier` both train. adapter_config.json does not record them
  /// (PromptLearningConfig has no such field): they follow from the task type.
  std::vector<std::string> modules_to_save{"classifier", "score"};
  /// PEFT task type. Only "SEQ_CLS" (PeftModelForSequenceClassification's forward) is implemented.
  std::string task_type = "SEQ_CLS";
  std::string base_model_name_or_path;  ///< recorded in adapter_config.json
  /// Recorded in adapter_config.json; PEFT needs one for TEXT (it re-tokenises the text when
  /// it builds a trainable model). Empty: the base model's own, base_model_name_or_path.
  std::string tokenizer_name_or_path;

  /// ConfigError for num_virtual_tokens < 1, TEXT without init text, or a task type other
  /// than SEQ_CLS.
  void validate() const;

  /// The fields a run configuration records (io/settings.h), with their flags; the init text
  /// only for TEXT. task_type and the two paths belong to adapter_config.json alone.
  template <class Self, class Visitor>
  static void fields(Self& c, Visitor&& v) {
    using io::setting;
    v(setting("num_virtual_tokens", c.num_virtual_tokens)
          .flag("num-virtual-tokens", "prompt tuning: number of virtual tokens (default 20)")
          .rule(io::at_least<std::int64_t>(1), ">= 1"));
    v(setting("prompt_tuning_init", c.prompt_tuning_init)
          .flag("prompt-init", "prompt tuning init: random (N(0,1)) or text (embeddings of --prompt-init-text)"));
    v(setting("prompt_tuning_init_text", c.prompt_tuning_init_text)
          .flag("prompt-init-text", "prompt tuning: the text whose token embeddings start the prompt")
          .rule([](const std::string& t) { return !t.empty(); }, "a non-empty text for prompt-init text")
          .only_if(c.prompt_tuning_init == PromptInit::text));
    v(setting("modules_to_save", c.modules_to_save));
  }
};

}  // namespace loraft::adapter

namespace loraft::io {
/// PromptInit by name in settings.
template <>
struct EnumNames<adapter::PromptInit> {
  static const char* to_string(adapter::PromptInit i) { return adapter::to_string(i); }  ///< its name
  static adapter::PromptInit parse(const std::string& name, const std::string& where) {
    return adapter::parse_prompt_init(name, where);
  }  ///< by name
};
}  // namespace loraft::io

namespace loraft::adapter {

/// adapter_config.json exactly as PEFT 0.13.2 writes it for `config` on a model of
/// configuration `model` (keys sorted; `num_layers`, `token_dim`, `num_attention_heads` from
/// the model's n_layers, dim, n_heads, which PEFT needs given by hand for DistilBERT;
/// `num_transformer_submodules` 1; `inference_mode` true). For TEXT an empty
/// tokenizer_name_or_path is written as base_model_name_or_path; ConfigError when both are
/// empty (PEFT refuses to read such a file).
io::OrderedJson to_peft_json(const PromptTuningConfig& config, const model::DistilBertConfig& model);

/// Reads a PEFT prompt-tuning adapter_config.json (`where` names it in errors). ConfigError
/// for another peft_type, what PEFT itself refuses (TEXT without init text or tokenizer,
/// tokenizer_kwargs without TEXT), and what loraft does not implement, never silently
/// ignored: a task type other than SEQ_CLS, num_transformer_submodules other than 1,
/// tokenizer_kwargs. modules_to_save are the task's (see PromptTuningConfig).
PromptTuningConfig prompt_tuning_from_peft_json(const io::Json& json, const std::string& where);

/// Adds `config.num_virtual_tokens` virtual tokens to `model` (EmbeddingsImpl::add_virtual_tokens,
/// parameter `distilbert.embeddings.virtual_tokens`) and freezes every parameter except them
/// and those of the modules_to_save, as PEFT's `_setup_prompt_encoder` and `_set_trainable` do.
/// RANDOM: N(0, 1) from a CPU generator seeded with `seed`, the draw of `torch.manual_seed(seed)`
/// followed by PEFT's `torch.nn.Embedding(nv, dim)` (the caller's generator is not touched).
/// TEXT: the word-embedding rows at `init_token_ids`, the tokenizer's ids of the init text
/// WITH [CLS] and [SEP] (`tokenizer(text)["input_ids"]`, e.g. BertTokenizer::encode(text,
/// n, false, text::Padding::none).input_ids); this function cuts them to nv or repeats them
/// as PEFT's `PromptEmbedding.__init__` does. ConfigError for an invalid config, ids for
/// RANDOM, no ids or ids outside the vocabulary for TEXT, or a model that already has virtual tokens.
void apply_prompt_tuning(model::DistilBertForSequenceClassificationImpl& model, const PromptTuningConfig& config,
                         std::uint64_t seed, const std::vector<std::int64_t>& init_token_ids = {});

/// The name PEFT's `named_parameters()` gives a parameter of a prompt-tuned model, to compare
/// with tensors dumped from a live PEFT model (gradients): the virtual tokens are
/// `prompt_encoder.default.embedding.weight`, a modules_to_save parameter
/// `base_model.pre_classifier.modules_to_save.default.weight`, any other `base_model.<name>`
/// (for prompt learning PeftModel.base_model is the transformers model itself, no `.model.`).
std::string peft_runtime_name(const std::string& name, const PromptTuningConfig& config);

/// Writes `dir/adapter_config.json` (to_peft_json()) and `dir/adapter_model.safetensors` with
/// PEFT's keys: `prompt_embeddings` [nv, dim] and the modules_to_save parameters as
/// `base_model.<name>` (peft/utils/save_and_load.py (0.13.2) get_peft_model_state_dict).
/// ConfigError unless the model has exactly config.num_virtual_tokens virtual tokens.
void save_prompt_adapter(const std::filesystem::path& dir, model::DistilBertForSequenceClassificationImpl& model,
                         const PromptTuningConfig& config);

/// Reads a PEFT prompt-tuning folder's configuration (prompt_tuning_from_peft_json()); a file
/// whose keys have other types than PEFT writes is a FormatError.
PromptTuningConfig read_prompt_adapter_config(const std::filesystem::path& dir);

/// Loads a PEFT prompt-tuning folder into a plain model: a folder of another PEFT method is a
/// ConfigError naming both (expect_peft_type()); `prompt_embeddings` must be [nv, dim] of this
/// model (FormatError, the model left untouched); then the virtual tokens are added, the
/// model frozen as apply_prompt_tuning() does, and every saved tensor copied into place
/// (missing, unexpected or mis-shaped tensors are one FormatError listing them all).
/// Returns the configuration.
PromptTuningConfig load_prompt_adapter(const std::filesystem::path& dir,
                                       model::DistilBertForSequenceClassificationImpl& model);

}  // namespace loraft::adapter
