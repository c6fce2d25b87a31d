// Prompt tuning as PEFT 0.13.2 (tag v0.13.2 = 431c0e2d) runs it for sequence classification;
// comments name the PEFT function each rule comes from.
#include "loraft/adapter/prompt_tuning.h"

#include <ATen/CPUGeneratorImpl.h>

#include <map>

#include "loraft/adapter/peft_io.h"
#include "loraft/core/error.h"
#include "loraft/io/safetensors.h"

namespace loraft::adapter {
namespace fs = std::filesystem;

namespace {

// EmbeddingsImpl::add_virtual_tokens registers `virtual_tokens` in the encoder's `embeddings`.
const char* kVirtualTokens = "distilbert.embeddings.virtual_tokens";
// peft/utils/save_and_load.py (0.13.2) get_peft_model_state_dict: the prompt's key in the file.
const char* kPromptKey = "prompt_embeddings";

// A JSON string, or "" for an absent key or null; FormatError (via get_field) for another type.
std::string string_or_empty(const io::Json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return {};
  return io::get_field<std::string>(j, key, where);
}

// Adds the virtual tokens (a copy of `init`) and sets what trains: PeftModel._setup_prompt_encoder
// (peft/peft_model.py, 0.13.2) freezes every parameter of the base model, the PromptEmbedding
// trains, and PeftModelForSequenceClassification.__init__ then makes the modules_to_save
// trainable (_set_trainable). add_virtual_tokens goes first: it throws before anything changed.
void attach(model::DistilBertForSequenceClassificationImpl& model, const PromptTuningConfig& config,
            const torch::Tensor& init) {
  auto& embeddings = *model.distilbert->embeddings;
  embeddings.add_virtual_tokens(init);
  freeze_all_but_modules_to_save(model, config.modules_to_save);
  embeddings.virtual_tokens.set_requires_grad(true);
}

// What PEFT saves, under its keys: the prompt and the modules_to_save parameters as
// `base_model.<name>` (get_peft_model_state_dict strips `modules_to_save.default.`; for prompt
// learning PeftModel.base_model is the transformers model, so there is no `.model.`).
io::NamedTensors saved_tensors(model::DistilBertForSequenceClassificationImpl& model,
                               const PromptTuningConfig& config, const torch::Tensor& prompt) {
  io::NamedTensors out{{kPromptKey, prompt}};
  for (auto& [name, p] : modules_to_save_parameters(model, config.modules_to_save))
    out.emplace_back("base_model." + name, p);
  return out;
}

}  // namespace

const char* to_string(PromptInit init) { return init == PromptInit::text ? "text" : "random"; }

PromptInit parse_prompt_init(const std::string& name, const std::string& where) {
  if (name == "random") return PromptInit::random;
  if (name == "text") return PromptInit::text;
  throw ConfigError("unknown prompt init \"" + name + "\"", where, "random or text");
}

void PromptTuningConfig::validate() const {
  // num_virtual_tokens >= 1, and peft/tuners/prompt_tuning/config.py (0.13.2)
  // PromptTuningConfig.__post_init__: TEXT needs prompt_tuning_init_text (fields()' rules).
  io::validate_settings(*this);
  if (task_type != "SEQ_CLS")
    throw ConfigError("prompt tuning for task type \"" + task_type + "\" is not implemented",
                      "PromptTuningConfig.task_type", "SEQ_CLS (PeftModelForSequenceClassification)");
}

io::OrderedJson to_peft_json(const PromptTuningConfig& c, const model::DistilBertConfig& m) {
  c.validate();
  using io::OrderedJson;
  const bool text = c.prompt_tuning_init == PromptInit::text;
  auto string_or_null = [](const std::string& s) { return s.empty() ? OrderedJson(nullptr) : OrderedJson(s); };
  // PromptTuningConfig.__post_init__ refuses TEXT without a tokenizer, even when only reading
  // the file; loraft tokenises with the base model's own vocabulary.
  const std::string tokenizer = text && c.tokenizer_name_or_path.empty() ? c.base_model_name_or_path
                                                                         : c.tokenizer_name_or_path;
  if (text && tokenizer.empty())
    throw ConfigError("TEXT prompt init without tokenizer_name_or_path or base_model_name_or_path",
                      "PromptTuningConfig.tokenizer_name_or_path", "the tokenizer's (or base model's) name or path");
  // Every field of PromptTuningConfig (with PromptLearningConfig's and PeftConfig's) in the order
  // of PEFT's JSON (sort_keys=True). num_layers, token_dim, num_attention_heads: what
  // peft/utils/other.py _prepare_prompt_learning_config cannot find in DistilBERT's config
  // (n_layers, dim, n_heads), so PEFT needs them given; num_transformer_submodules: 1 unless
  // SEQ_2_SEQ_LM (PeftModel._setup_prompt_encoder).
  OrderedJson j;
  j["auto_mapping"] = nullptr;
  j["base_model_name_or_path"] = string_or_null(c.base_model_name_or_path);
  j["inference_mode"] = true;
  j["num_attention_heads"] = m.n_heads;
  j["num_layers"] = m.n_layers;
  j["num_transformer_submodules"] = 1;
  j["num_virtual_tokens"] = c.num_virtual_tokens;
  j["peft_type"] = "PROMPT_TUNING";
  j["prompt_tuning_init"] = text ? "TEXT" : "RANDOM";
  j["prompt_tuning_init_text"] = string_or_null(c.prompt_tuning_init_text);
  j["revision"] = nullptr;
  j["task_type"] = c.task_type;
  j["token_dim"] = m.dim;
  j["tokenizer_kwargs"] = nullptr;
  j["tokenizer_name_or_path"] = string_or_null(tokenizer);
  return j;
}

PromptTuningConfig prompt_tuning_from_peft_json(const io::Json& j, const std::string& where) {
  if (!j.is_object()) throw FormatError("not a JSON object", where, "adapter_config.json");
  const std::string peft_type = string_or_empty(j, "peft_type", where);
  if (peft_type != "PROMPT_TUNING")
    throw ConfigError("peft_type is \"" + peft_type + "\"", where, "PROMPT_TUNING");
  PromptTuningConfig c;
  c.num_virtual_tokens = io::get_field<std::int64_t>(j, "num_virtual_tokens", where);
  // PromptTuningInit is a str enum; RANDOM is the default.
  const std::string init = string_or_empty(j, "prompt_tuning_init", where);
  if (init == "TEXT")
    c.prompt_tuning_init = PromptInit::text;
  else if (!init.empty() && init != "RANDOM")
    throw ConfigError("prompt_tuning_init is \"" + init + "\"", where, "RANDOM or TEXT");
  c.prompt_tuning_init_text = string_or_empty(j, "prompt_tuning_init_text", where);
  c.tokenizer_name_or_path = string_or_empty(j, "tokenizer_name_or_path", where);
  c.base_model_name_or_path = string_or_empty(j, "base_model_name_or_path", where);
  c.task_type = string_or_empty(j, "task_type", where);
  const bool text = c.prompt_tuning_init == PromptInit::text;
  // PromptTuningConfig.__post_init__ raises for TEXT without a tokenizer.
  if (text && c.tokenizer_name_or_path.empty())
    throw ConfigError("TEXT prompt init without tokenizer_name_or_path", where, "a tokenizer name or path");
  // tokenizer_kwargs: PEFT refuses them without TEXT; with TEXT they only matter for
  // re-tokenising, which loraft leaves to its caller: not implemented, so not accepted.
  if (j.contains("tokenizer_kwargs") && !j["tokenizer_kwargs"].is_null() && !j["tokenizer_kwargs"].empty())
    throw ConfigError("adapter uses tokenizer_kwargs, which loraft does not implement", where, "null");
  // Encoder-decoder models use 2 (one prompt per stack); DistilBERT has one.
  if (j.contains("num_transformer_submodules") && !j["num_transformer_submodules"].is_null() &&
      io::get_field<std::int64_t>(j, "num_transformer_submodules", where) != 1)
    throw ConfigError("num_transformer_submodules is " + j["num_transformer_submodules"].dump(), where, "1 or null");
  try {
    c.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(e.problem(), where + ": " + e.where(), e.expected());
  }
  return c;
}

void apply_prompt_tuning(model::DistilBertForSequenceClassificationImpl& model, const PromptTuningConfig& config,
                         std::uint64_t seed, const std::vector<std::int64_t>& init_token_ids) {
  config.validate();
  const char* where = "apply_prompt_tuning";
  const std::int64_t nv = config.num_virtual_tokens, dim = model.config.dim;
  torch::Tensor init;
  if (config.prompt_tuning_init == PromptInit::random) {
    if (!init_token_ids.empty())
      throw ConfigError("init_token_ids given for RANDOM init", where, "no ids (they are for TEXT init)");
    // peft/tuners/prompt_tuning/model.py (0.13.2) PromptEmbedding.__init__ builds
    // torch.nn.Embedding(nv, token_dim), whose reset_parameters draws normal_() = N(0, 1) from
    // the default generator. A fresh CPU generator seeded with `seed` is that generator after
    // torch.manual_seed(seed): the same Mersenne Twister stream and normal kernel.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    init = torch::empty({nv, dim}, torch::kFloat).normal_(0.0, 1.0, gen);
  } else {
    if (init_token_ids.empty())
      throw ConfigError("TEXT init without token ids", where,
                        "the tokenizer's ids of prompt_tuning_init_text, [CLS] and [SEP] included");
    for (std::int64_t id : init_token_ids)
      if (id < 0 || id >= model.config.vocab_size)
        throw ConfigError("init token id " + std::to_string(id) + " is outside the vocabulary", where,
                          "0 <= id < vocab_size " + std::to_string(model.config.vocab_size));
    // PromptEmbedding.__init__: the ids cut to nv, or repeated ceil(nv / n) times and then
    // cut: id i is ids[i mod n] either way. The rows are copied (detach().clone()) in float32.
    std::vector<std::int64_t> used;
    for (std::int64_t i = 0; i < nv; ++i)
      used.push_back(init_token_ids[static_cast<std::size_t>(i) % init_token_ids.size()]);
    const torch::Tensor& table = model.distilbert->embeddings->word_embeddings->weight;
    init = table.detach().index_select(0, torch::tensor(used, torch::kLong).to(table.device())).to(torch::kFloat);
  }
  attach(model, config, init);
}

std::string peft_runtime_name(const std::string& name, const PromptTuningConfig& config) {
  // PeftModel.prompt_encoder is a ModuleDict of PromptEmbedding, whose nn.Embedding is `embedding`.
  if (name == kVirtualTokens) return "prompt_encoder.default.embedding.weight";
  return "base_model." + modules_to_save_runtime_name(name, config.modules_to_save);
}

void save_prompt_adapter(const fs::path& dir, model::DistilBertForSequenceClassificationImpl& model,
                         const PromptTuningConfig& config) {
  const auto& embeddings = *model.distilbert->embeddings;
  if (embeddings.num_virtual_tokens() != config.num_virtual_tokens)
    throw ConfigError("the model has " + std::to_string(embeddings.num_virtual_tokens()) +
                          " virtual tokens, the config says " + std::to_string(config.num_virtual_tokens),
                      (dir / "adapter_config.json").string(),
                      "a model prepared by apply_prompt_tuning() or load_prompt_adapter() with this config");
  write_adapter_folder(dir, saved_tensors(model, config, embeddings.virtual_tokens), to_peft_json(config, model.config));
}

PromptTuningConfig read_prompt_adapter_config(const fs::path& dir) {
  const fs::path file = dir / "adapter_config.json";
  const io::Json json = io::read_json(file);
  try {
    return prompt_tuning_from_peft_json(json, file.string());
  } catch (const io::Json::exception& e) {  // a key of another type than PEFT writes
    throw FormatError(std::string("not a PEFT prompt-tuning config: ") + e.what(), file.string(),
                      "adapter_config.json as PEFT 0.13.2 writes it (num_virtual_tokens, prompt_tuning_init, ...)");
  }
}

PromptTuningConfig load_prompt_adapter(const fs::path& dir, model::DistilBertForSequenceClassificationImpl& model) {
  expect_peft_type(dir, "PROMPT_TUNING");
  PromptTuningConfig config = read_prompt_adapter_config(dir);
  if (model.distilbert->embeddings->num_virtual_tokens() > 0)
    throw ConfigError("the model already has virtual tokens", dir.string(), "a plain model");
  const fs::path weights = dir / "adapter_model.safetensors";
  io::SafetensorsFile file(weights);  // opened first: a bad file leaves the model untouched
  // The prompt's shape against the config and the model before anything is allocated: a
  // damaged or hostile num_virtual_tokens (1e12) must not reach the allocator.
  const std::vector<std::int64_t> shape{config.num_virtual_tokens, model.config.dim};
  if (!file.contains(kPromptKey) || file.info(kPromptKey).shape != shape)
    throw FormatError(std::string(kPromptKey) + " is missing or not [num_virtual_tokens " +
                          std::to_string(config.num_virtual_tokens) + ", dim " + std::to_string(model.config.dim) + "]",
                      weights.string(), "the prompt of adapter_config.json for this model");
  // Everything is read into place first (all or nothing), then the virtual tokens are added.
  const torch::Tensor prompt = torch::zeros(shape, torch::kFloat);
  std::map<std::string, torch::Tensor> into;
  for (auto& [key, t] : saved_tensors(model, config, prompt)) into[key] = t;
  copy_adapter_tensors(file, into, weights);
  attach(model, config, prompt);
  return config;
}

}  // namespace loraft::adapter
