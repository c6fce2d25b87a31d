#include "loraft/model/pretrained.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "loraft/core/error.h"
#include "loraft/core/log.h"
#include "loraft/core/strings.h"

namespace loraft::model {
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kClassifierHead = {"pre_classifier.", "classifier."};
const std::vector<std::string> kMaskedLMHead = {"vocab_transform.", "vocab_layer_norm.", "vocab_projector."};
// DistilBertPreTrainedModel.base_model_prefix.
const std::string kBasePrefix = "distilbert.";


bool under_any(const std::string& name, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](const auto& p) { return starts_with(name, p); });
}

std::string shape_string(c10::IntArrayRef shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// transformers 4.46 PreTrainedModel._load_pretrained_model / _fix_key: legacy LayerNorm names
// `gamma` and `beta` become `weight` and `bias` (only as the last name component here, so that
// other names containing those letters are left alone).
std::string fix_key(const std::string& key) {
  auto dot = key.rfind('.');
  std::string last = dot == std::string::npos ? key : key.substr(dot + 1);
  std::string stem = dot == std::string::npos ? "" : key.substr(0, dot + 1);
  if (last == "gamma") return stem + "weight";
  if (last == "beta") return stem + "bias";
  return key;
}

// config.json against the weights file's header, before the model is allocated: a damaged
// or hostile config (n_layers 1e9, vocab_size 1e12) is refused here instead of hanging in or
// failing inside the allocator. Embedding and block tensors must have the sizes the config
// implies (transformers refuses a size mismatch as well), and the model the config describes
// may not be much larger than the file: a different number of blocks stays allowed, as in
// transformers (missing ones are initialised, extra ones reported as unexpected).
void check_config_against_weights(const DistilBertConfig& c, const io::SafetensorsFile& file) {
  auto refuse = [&](const std::string& problem, const std::string& expected) {
    throw FormatError("config.json does not fit the weights: " + problem, file.path().string(), expected);
  };
  double file_elements = 0;
  for (const auto& t : file.tensors()) {
    file_elements += static_cast<double>(t.numel());
    std::string name = fix_key(t.name);
    if (starts_with(name, kBasePrefix)) name = name.substr(std::string(kBasePrefix).size());
    auto expect = [&](const std::vector<std::int64_t>& shape, const char* what) {
      if (t.shape != shape) refuse(t.name + " has shape " + shape_string(t.shape), what);
    };
    if (name == "embeddings.word_embeddings.weight") expect({c.vocab_size, c.dim}, "[vocab_size, dim]");
    if (name == "embeddings.position_embeddings.weight")
      expect({c.max_position_embeddings, c.dim}, "[max_position_embeddings, dim]");
    if (starts_with(name, "transformer.layer.") && ends_with(name, ".ffn.lin1.weight"))
      expect({c.hidden_dim, c.dim}, "[hidden_dim, dim]");
    if (starts_with(name, "transformer.layer.") && ends_with(name, ".attention.q_lin.weight"))
      expect({c.dim, c.dim}, "[dim, dim]");
  }
  const double d = static_cast<double>(c.dim);
  const double config_elements = static_cast<double>(c.vocab_size + c.max_position_embeddings) * d +
                                 static_cast<double>(c.n_layers) * (4 * d * d + 2 * d * c.hidden_dim);
  if (config_elements > 2 * file_elements + 1e7)
    refuse("it describes about " + std::to_string(static_cast<long long>(config_elements)) +
               " parameters, the file holds " + std::to_string(static_cast<long long>(file_elements)),
           "the config.json saved with these weights");
}

bool is_floating(io::Dtype d) {
  return d == io::Dtype::F16 || d == io::Dtype::BF16 || d == io::Dtype::F32 || d == io::Dtype::F64;
}

}  // namespace

std::string LoadReport::summary() const {
  std::string s;
  auto add = [&](const char* label, const std::vector<std::string>& keys) {
    if (keys.empty()) return;
    if (!s.empty()) s += "; ";
    s += std::string(label) + " (" + std::to_string(keys.size()) + "): " + join(keys);
  };
  add("missing", missing_keys);
  add("unexpected", unexpected_keys);
  add("mismatched", mismatched_keys);
  return s.empty() ? "all tensors loaded" : s;
}

DistilBertConfig load_config(const fs::path& folder, const LoadOptions& options) {
  const fs::path path = folder / kConfigFile;
  if (!fs::exists(path))
    throw IoError("no config.json in the checkpoint folder", folder.string(),
                  "a Hugging Face model folder (config.json + model.safetensors)");
  DistilBertConfig config = DistilBertConfig::from_file(path);
  if (options.num_labels > 0 && options.num_labels != config.num_labels()) config.set_num_labels(options.num_labels);
  if (options.adjust_config) options.adjust_config(config);
  config.validate(path.string());
  return config;
}

io::NamedTensors state_dict(const torch::nn::Module& model) {
  io::NamedTensors out;
  std::set<const void*> seen;
  for (const auto& p : model.named_parameters())
    if (seen.insert(p.value().unsafeGetTensorImpl()).second) out.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers())
    if (seen.insert(b.value().unsafeGetTensorImpl()).second) out.emplace_back(b.key(), b.value());
  return out;
}

LoadReport load_weights(torch::nn::Module& model, const fs::path& file,
                        const std::vector<std::string>& head_prefixes, bool allow_missing_head) {
  io::SafetensorsFile weights(file);
  LoadReport report;

  // The model's tensors by name.
  std::map<std::string, torch::Tensor> expected;
  for (auto& [name, tensor] : state_dict(model)) expected.emplace(name, tensor);
  const bool model_has_base = std::any_of(expected.begin(), expected.end(),
                                          [](const auto& kv) { return starts_with(kv.first, kBasePrefix); });

  // File names -> model names (PreTrainedModel._load_pretrained_model: legacy names, and a
  // bare DistilBertModel checkpoint loaded into a model with a head gets the
  // "distilbert." prefix).
  const auto names = weights.names();
  const bool file_has_base =
      std::any_of(names.begin(), names.end(), [](const auto& n) { return starts_with(n, kBasePrefix); });
  std::map<std::string, std::string> model_to_file;
  for (const auto& original : names) {
    std::string name = fix_key(original);
    if (model_has_base && !file_has_base && !expected.count(name) && expected.count(kBasePrefix + name))
      name = kBasePrefix + name;
    if (name != original) report.renamed_keys.push_back(original + " -> " + name);
    model_to_file[name] = original;
  }

  // The projector's weight is the word embedding table when tied: a file may carry it
  // (older checkpoints do); it is the same tensor, so it is neither loaded nor unexpected.
  std::set<std::string> tied;
  for (const auto& m : model.modules(/*include_self=*/false))
    if (auto* p = dynamic_cast<VocabProjectorImpl*>(m.get()); p && p->tied()) tied.insert("vocab_projector.weight");

  for (const auto& [name, tensor] : expected) {
    auto it = model_to_file.find(name);
    if (it == model_to_file.end()) {
      report.missing_keys.push_back(name);
      continue;
    }
    const auto& info = weights.info(it->second);
    const bool same_shape = c10::IntArrayRef(info.shape) == tensor.sizes();
    const bool float_ok = is_floating(info.dtype) && tensor.is_floating_point();
    const bool same_type = io::scalar_type_of(info.dtype) == tensor.scalar_type();
    if (!same_shape || !(same_type || float_ok)) {
      report.mismatched_keys.push_back(name + ": file " + std::string(io::dtype_name(info.dtype)) +
                                       shape_string(info.shape) + ", model " +
                                       std::string(io::dtype_name(io::dtype_of(tensor.scalar_type()))) +
                                       shape_string(tensor.sizes()));
    } else if (!same_type) {
      report.converted_keys.push_back(name);
    }
  }
  for (const auto& [name, original] : model_to_file)
    if (!expected.count(name) && !tied.count(name)) report.unexpected_keys.push_back(name);

  // Which findings are acceptable.
  std::vector<std::string> bad_missing, bad_unexpected;
  for (const auto& k : report.missing_keys)
    if (!(allow_missing_head && under_any(k, head_prefixes))) bad_missing.push_back(k);
  for (const auto& k : report.unexpected_keys)
    if (!(allow_missing_head && !starts_with(k, kBasePrefix) && !under_any(k, head_prefixes)))
      bad_unexpected.push_back(k);
  if (!bad_missing.empty() || !bad_unexpected.empty() || !report.mismatched_keys.empty()) {
    std::string what = "checkpoint does not fit the model:";
    if (!bad_missing.empty()) what += " missing tensors (" + std::to_string(bad_missing.size()) + "): " + join(bad_missing) + ";";
    if (!bad_unexpected.empty())
      what += " unexpected tensors (" + std::to_string(bad_unexpected.size()) + "): " + join(bad_unexpected) + ";";
    if (!report.mismatched_keys.empty())
      what += " mis-shaped tensors (" + std::to_string(report.mismatched_keys.size()) + "): " +
              join(report.mismatched_keys) + ";";
    what.pop_back();
    throw FormatError(what, file.string(),
                      allow_missing_head ? "every encoder tensor with the model's shapes"
                                         : "exactly the model's tensors (allow_missing_head accepts a "
                                           "checkpoint without this task head)");
  }

  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : expected) {
    auto it = model_to_file.find(name);
    if (it == model_to_file.end()) continue;
    tensor.copy_(weights.finite_tensor(it->second).to(tensor.scalar_type()));
  }
  return report;
}

namespace {

template <typename Model>
Model load_head(const fs::path& folder, const LoadOptions& options, LoadReport* report,
                const std::vector<std::string>& head, const char* what) {
  DistilBertConfig config = load_config(folder, options);
  const fs::path weights = folder / kWeightsFile;
  if (!fs::exists(weights)) {
    std::string hint = fs::exists(folder / "pytorch_model.bin")
                           ? " (only pytorch_model.bin is there; loraft reads safetensors only)"
                           : "";
    throw IoError("no model.safetensors in the checkpoint folder" + hint, folder.string(),
                  "a Hugging Face model folder (config.json + model.safetensors)");
  }
  check_config_against_weights(config, io::SafetensorsFile(weights));
  Model model(config, options.seed);
  LoadReport r = load_weights(*model, weights, head, options.allow_missing_head);
  // Only a head can be missing or unexpected here (anything else is an error in
  // load_weights): expected for a pretrained encoder loaded for classification, so said once
  // per folder and process, at info level (a study loads the same folder for every run).
  static std::mutex mutex;
  static std::set<std::string> reported;
  const std::lock_guard<std::mutex> lock(mutex);
  if ((!r.missing_keys.empty() || !r.unexpected_keys.empty()) && reported.insert(folder.string()).second)
    log_info(std::string(what) + " from " + folder.string() + ": " + r.summary() +
             " (missing tensors are newly initialised; train the model before using it)");
  if (report) *report = std::move(r);
  return model;
}

}  // namespace

DistilBertForSequenceClassification load_sequence_classification(const fs::path& folder,
                                                                  const LoadOptions& options,
                                                                  LoadReport* report) {
  return load_head<DistilBertForSequenceClassification>(folder, options, report, kClassifierHead,
                                                        "DistilBertForSequenceClassification");
}

DistilBertForMaskedLM load_masked_lm(const fs::path& folder, const LoadOptions& options, LoadReport* report) {
  return load_head<DistilBertForMaskedLM>(folder, options, report, kMaskedLMHead, "DistilBertForMaskedLM");
}

void save_pretrained(const fs::path& folder, const torch::nn::Module& model, const DistilBertConfig& config,
                     const std::string& architecture) {
  config.validate();
  fs::create_directories(folder);
  // save_pretrained(safe_serialization=True) stores metadata={"format": "pt"}.
  io::save_safetensors(folder / kWeightsFile, state_dict(model), {{"format", "pt"}});
  config.save(folder / kConfigFile, {architecture});
}

void save_pretrained(const fs::path& folder, const DistilBertForSequenceClassification& model) {
  save_pretrained(folder, *model, model->config, "DistilBertForSequenceClassification");
}

void save_pretrained(const fs::path& folder, const DistilBertForMaskedLM& model) {
  save_pretrained(folder, *model, model->config, "DistilBertForMaskedLM");
}

}  // namespace loraft::model
