// Bottleneck adapters as adapter-hub/adapters f0ca96200 (src/adapters/) defines them; each rule
// cites the reference function it follows.
#include "loraft/adapter/bottleneck.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <ATen/CPUGeneratorImpl.h>

#include "loraft/adapter/peft_io.h"
#include "loraft/core/error.h"
#include "loraft/io/file.h"
#include "loraft/io/safetensors.h"

namespace loraft::adapter {
namespace {

// `build_full_config` (configuration/model_adapters_config.py) writes "adapters." + __version__.
const char* kVersion = "adapters.1.1.0.dev0";
// BottleneckLayer names (models/distilbert/mixin_distilbert.py,
// DistilBertTransfomerBlockAdaptersMixin.init_adapters).
const char* kAttentionSite = "attention_adapters";
const char* kOutputSite = "output_adapters";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

// `Activation_Function_Class` (methods/modeling.py): "leakyrelu" is F.leaky_relu (slope 0.01),
// every other name transformers 4.46.3 `get_activation` (activations.py ACT2CLS): relu nn.ReLU,
// swish and silu nn.SiLU, gelu GELUActivation (exact erf), tanh nn.Tanh, sigmoid nn.Sigmoid.
std::optional<model::Activation> activation_of(const std::string& name) {
  const std::string n = lower(name);
  if (n == "relu") return model::Activation([](const torch::Tensor& x) { return torch::relu(x); });
  if (n == "swish" || n == "silu") return model::Activation([](const torch::Tensor& x) { return torch::silu(x); });
  if (n == "gelu") return model::Activation([](const torch::Tensor& x) { return torch::gelu(x); });
  if (n == "tanh") return model::Activation([](const torch::Tensor& x) { return torch::tanh(x); });
  if (n == "sigmoid") return model::Activation([](const torch::Tensor& x) { return torch::sigmoid(x); });
  if (n == "leakyrelu") return model::Activation([](const torch::Tensor& x) { return torch::leaky_relu(x, 0.01); });
  return std::nullopt;
}

// `BottleneckLayer.add_adapter`: int(hidden_size // reduction_factor); `Adapter.__init__`: at least 1.
std::int64_t width_of(const BottleneckConfig& c, std::int64_t dim) {
  return std::max<std::int64_t>(dim / c.reduction_factor, 1);
}

bool has_attention_site(const BottleneckConfig& c) { return c.variant == BottleneckVariant::houlsby; }

// The BnConfig dict of DoubleSeqBnConfig / SeqBnConfig (configuration/adapter_config.py) as
// `AdapterConfig.to_dict()` gives it, with the fields BottleneckConfig holds filled in.
io::Json bn_config_dict(const BottleneckConfig& c) {
  const bool houlsby = c.variant == BottleneckVariant::houlsby;
  return io::Json{
      {"adapter_residual_before_ln", false}, {"cross_adapter", false}, {"dropout", 0.0},
      {"factorized_phm_W", true}, {"factorized_phm_rule", false}, {"hypercomplex_nonlinearity", "glorot-uniform"},
      {"init_weights", "bert"}, {"inv_adapter", nullptr}, {"inv_adapter_reduction_factor", nullptr},
      {"is_parallel", false}, {"learn_phm", true}, {"leave_out", io::Json::array()}, {"ln_after", false},
      {"ln_before", false}, {"mh_adapter", houlsby}, {"non_linearity", c.non_linearity_name()},
      {"original_ln_after", true}, {"original_ln_before", !houlsby}, {"output_adapter", true}, {"phm_bias", true},
      {"phm_c_init", "normal"}, {"phm_dim", 4}, {"phm_init_range", 0.0001}, {"phm_layer", false}, {"phm_rank", 1},
      {"reduction_factor", c.reduction_factor}, {"residual_before_ln", true}, {"scaling", 1.0},
      {"shared_W_phm", false}, {"shared_phm_rule", true}, {"stochastic_depth", 0.0}, {"use_gating", false}};
}

// Fields that do not change the forward of a loaded adapter: the PHM ones (phm_layer is
// checked), the init, and the invertible adapter's factor (inv_adapter is checked).
const std::set<std::string>& ignored_fields() {
  static const std::set<std::string> s{"factorized_phm_W", "factorized_phm_rule", "hypercomplex_nonlinearity",
                                       "init_weights", "inv_adapter_reduction_factor", "learn_phm", "phm_bias",
                                       "phm_c_init", "phm_dim", "phm_init_range", "phm_rank", "shared_W_phm",
                                       "shared_phm_rule"};
  return s;
}

std::vector<model::TransformerBlockImpl*> blocks_of(model::DistilBertForSequenceClassificationImpl& m) {
  std::vector<model::TransformerBlockImpl*> out;
  for (const auto& b : *m.distilbert->transformer->layer) out.push_back(b->as<model::TransformerBlockImpl>());
  return out;
}

bool is_adapter_parameter(const std::string& name, const std::string& adapter_name) {
  return name.find(".adapters." + adapter_name + ".") != std::string::npos;
}

// PredictionHeadLoader.filter_func with no head name: every tensor not under base_model_prefix.
bool is_head_parameter(const std::string& name) { return name.rfind("distilbert.", 0) != 0; }

void write_json_file(const std::filesystem::path& path, const io::Json& json) {
  io::write_file_atomic(path, json.dump(2));  // json.dump(indent=2, sort_keys=True): no final newline
}

}  // namespace

const char* to_string(BottleneckVariant variant) {
  return variant == BottleneckVariant::houlsby ? "houlsby" : "pfeiffer";
}

BottleneckVariant parse_bottleneck_variant(const std::string& name, const std::string& where) {
  if (name == "houlsby") return BottleneckVariant::houlsby;
  if (name == "pfeiffer") return BottleneckVariant::pfeiffer;
  throw ConfigError("unknown bottleneck variant \"" + name + "\"", where, "\"houlsby\" or \"pfeiffer\"");
}

std::string BottleneckConfig::non_linearity_name() const {
  // DoubleSeqBnConfig.non_linearity = "swish"; SeqBnConfig.non_linearity = "relu" (adapter_config.py).
  if (non_linearity) return *non_linearity;
  return variant == BottleneckVariant::houlsby ? "swish" : "relu";
}

void BottleneckConfig::validate() const {
  require(reduction_factor >= 1, "reduction_factor", "an integer >= 1");
  if (!activation_of(non_linearity_name()))
    throw ConfigError("unknown non-linearity \"" + non_linearity_name() + "\"", "BottleneckConfig.non_linearity",
                      "relu, swish, silu, gelu, tanh, sigmoid or leakyrelu");
  require(!adapter_name.empty() && adapter_name.find('.') == std::string::npos, "adapter_name",
          "a non-empty name without dots");
}

BottleneckAdapterImpl::BottleneckAdapterImpl(std::int64_t dim, std::int64_t width, const std::string& non_linearity)
    : down(model::Dense(dim, width)), adapter_up(model::Dense(width, dim)) {
  auto act = activation_of(non_linearity);
  if (!act) throw ConfigError("unknown non-linearity \"" + non_linearity + "\"", "BottleneckAdapter");
  adapter_down = register_module("adapter_down", torch::nn::Sequential(down, torch::nn::Functional(*act)));
  register_module("adapter_up", adapter_up);
}

torch::Tensor BottleneckAdapterImpl::forward(const torch::Tensor& a) {
  // Adapter.forward (methods/modeling.py): up = adapter_up(adapter_down(x)); up * scaling (1.0);
  // dropout (p = 0.0).
  return adapter_up->forward(adapter_down->forward(a));
}

BottleneckSiteImpl::BottleneckSiteImpl(const std::string& adapter_name, BottleneckAdapter a, bool ln_before)
    : adapters(register_module("adapters", torch::nn::ModuleDict())),
      adapter(std::move(a)),
      original_ln_before(ln_before) {
  adapters->update({{adapter_name, adapter.ptr()}});
}

torch::Tensor BottleneckSiteImpl::forward(const torch::Tensor& h, const torch::Tensor& x, torch::nn::LayerNorm& ln) {
  // BottleneckLayer.bottleneck_layer_forward (methods/bottleneck.py) -> Adapter.pre_forward:
  // residual = h (residual_before_ln True); a = LN(h + x) if original_ln_before else h.
  const torch::Tensor a = original_ln_before ? ln(h + x) : h;
  // Adapter.forward: output = up + residual (adapter_residual_before_ln False, no ln_after);
  // Adapter.post_forward: LN(output + input_tensor) (original_ln_after True), input_tensor = x.
  return ln(adapter->forward(a) + h + x);
}

std::int64_t bottleneck_parameter_count(const BottleneckConfig& config, std::int64_t dim, std::int64_t n_layers) {
  config.validate();
  const std::int64_t w = width_of(config, dim);
  const std::int64_t sites = has_attention_site(config) ? 2 : 1;
  return sites * n_layers * (2 * dim * w + w + dim);
}

BottleneckInjection apply_bottleneck(model::DistilBertForSequenceClassificationImpl& model,
                                     const BottleneckConfig& config, std::uint64_t seed) {
  config.validate();
  auto blocks = blocks_of(model);
  for (auto* b : blocks)
    if (b->residual_hook(model::ResidualSite::attention) || b->residual_hook(model::ResidualSite::output))
      throw ConfigError("the model already has residual hooks (another bottleneck adapter?)", "apply_bottleneck",
                        "a model without adapters");
  // ModelAdaptersMixin.train_adapter -> freeze_model: the base model (distilbert.*) is frozen;
  // the head is not touched.
  for (auto& p : model.distilbert->parameters()) p.set_requires_grad(false);

  const std::int64_t dim = model.config.dim, width = width_of(config, dim);
  const auto like = model.distilbert->embeddings->word_embeddings->weight;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  BottleneckInjection report;
  // Adapter.__init__ with init_weights "bert": nn.Linear(dim, width), nn.Linear(width, dim)
  // (reset_parameters: kaiming_uniform_ weight, uniform_ bias), then init_bert_weights on
  // adapter_down then adapter_up: weight.normal_(0, 0.02), bias zero. The first draws are
  // overwritten but consume the generator, so they are made too.
  auto make = [&]() {
    BottleneckAdapter a(dim, width, config.non_linearity_name());
    torch::NoGradGuard no_grad;
    for (auto* layer : {a->down.get(), a->adapter_up.get()}) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(layer->in_features));
      layer->weight.uniform_(-bound, bound, gen);
      layer->bias.uniform_(-bound, bound, gen);
    }
    for (auto* layer : {a->down.get(), a->adapter_up.get()}) {
      layer->weight.normal_(0.0, 0.02, gen);
      layer->bias.zero_();
    }
    a->to(like.device(), like.scalar_type());
    return a;
  };
  // ModelAdaptersMixin.add_adapter -> apply_to_adapter_layers: block by block, each block's
  // BottleneckLayers in registration order (attention_adapters, then output_adapters); a
  // location the config leaves out (mh_adapter False) gets no adapter.
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const std::string prefix = "distilbert.transformer.layer." + std::to_string(i) + ".";
    if (has_attention_site(config)) {
      blocks[i]->set_residual_hook(model::ResidualSite::attention, kAttentionSite,
                                   std::make_shared<BottleneckSiteImpl>(config.adapter_name, make(), false));
      report.sites.push_back(prefix + kAttentionSite);
    }
    blocks[i]->set_residual_hook(model::ResidualSite::output, kOutputSite,
                                 std::make_shared<BottleneckSiteImpl>(config.adapter_name, make(),
                                                                      config.variant == BottleneckVariant::pfeiffer));
    report.sites.push_back(prefix + kOutputSite);
  }
  for (const auto& p : model.named_parameters()) {
    if (is_adapter_parameter(p.key(), config.adapter_name)) report.adapter_parameters += p.value().numel();
    if (p.value().requires_grad()) report.trainable_parameters += p.value().numel();
  }
  return report;
}

io::Json to_adapters_json(const BottleneckConfig& config, const model::DistilBertConfig& model_config) {
  config.validate();
  // build_full_config (configuration/model_adapters_config.py) for AdapterLoader.save (loading.py).
  return io::Json{{"config", bn_config_dict(config)},
                  {"hidden_size", model_config.dim},
                  {"model_class", "DistilBertForSequenceClassification"},
                  {"model_name", config.model_name},
                  {"model_type", "distilbert"},
                  {"name", config.adapter_name},
                  {"version", kVersion}};
}

BottleneckConfig bottleneck_from_adapters_json(const io::Json& json, const std::string& where) {
  const std::string expected = "an adapter_config.json written by adapters' save_adapter";
  if (!json.is_object()) throw FormatError("not a JSON object", where, expected);
  if (json.contains("peft_type"))
    throw FormatError("a PEFT adapter (peft_type " + json["peft_type"].dump() + "), not an adapters bottleneck adapter",
                      where, expected);
  if (!json.contains("config") || !json["config"].is_object())
    throw FormatError("no \"config\" object: not an adapters adapter", where, expected);
  const std::string model_type = io::get_field<std::string>(json, "model_type", where);
  if (model_type != "distilbert")
    throw ConfigError("model_type \"" + model_type + "\"", where + ": model_type", "\"distilbert\"");
  const io::Json& c = json["config"];
  if (c.contains("architecture") && c["architecture"] != "bottleneck")
    throw FormatError("architecture " + c["architecture"].dump() + ", not a bottleneck adapter", where, expected);

  BottleneckConfig out;
  out.adapter_name = io::get_field<std::string>(json, "name", where);
  out.model_name = json.value("model_name", "");
  const io::Json& rf = c.contains("reduction_factor") ? c["reduction_factor"] : io::Json();
  if (!rf.is_number_integer())
    throw ConfigError("reduction_factor " + rf.dump(), where + ": config.reduction_factor",
                      "a positive integer (loraft does not take real or per-layer factors)");
  out.reduction_factor = rf.get<std::int64_t>();
  out.non_linearity = io::get_field<std::string>(c, "non_linearity", where + ": config");
  const bool mh = io::get_field<bool>(c, "mh_adapter", where + ": config");
  const bool ln_before = io::get_field<bool>(c, "original_ln_before", where + ": config");
  // DoubleSeqBnConfig: mh_adapter, output_adapter, not original_ln_before; SeqBnConfig: output
  // only, original_ln_before (configuration/adapter_config.py).
  if (mh && !ln_before) out.variant = BottleneckVariant::houlsby;
  else if (!mh && ln_before) out.variant = BottleneckVariant::pfeiffer;
  else
    throw ConfigError("mh_adapter " + std::string(mh ? "true" : "false") + " with original_ln_before " +
                          (ln_before ? "true" : "false"),
                      where + ": config", "Houlsby (true, false) or Pfeiffer (false, true)");
  // Every other field must be what DoubleSeqBnConfig / SeqBnConfig set, unless it cannot change
  // the forward of loaded weights.
  const io::Json want = bn_config_dict(out);
  for (const auto& [key, value] : c.items()) {
    if (key == "architecture" || ignored_fields().count(key)) continue;
    if (!want.contains(key))
      throw ConfigError("unknown field " + key, where + ": config." + key, "a BnConfig field");
    const io::Json& w = want[key];
    const bool same = (w.is_number() && value.is_number()) ? w.get<double>() == value.get<double>() : w == value;
    if (!same && key != "non_linearity" && key != "reduction_factor")
      throw ConfigError(key + " " + value.dump() + " is not implemented", where + ": config." + key, w.dump());
  }
  out.validate();
  return out;
}

void save_bottleneck_adapter(const std::filesystem::path& dir, model::DistilBertForSequenceClassificationImpl& model,
                             const BottleneckConfig& config) {
  const io::Json adapter_config = to_adapters_json(config, model.config);
  io::NamedTensors adapter, head;
  for (const auto& p : model.named_parameters()) {
    if (is_adapter_parameter(p.key(), config.adapter_name)) adapter.emplace_back(p.key(), p.value().detach());
    else if (is_head_parameter(p.key())) head.emplace_back(p.key(), p.value().detach());
  }
  if (adapter.empty())
    throw ConfigError("the model has no bottleneck adapter named \"" + config.adapter_name + "\"",
                      "save_bottleneck_adapter", "apply_bottleneck() or load_bottleneck_adapter() first");
  std::filesystem::create_directories(dir);
  // AdapterLoader.save (loading.py): adapter_config.json, then adapter.safetensors (save_file,
  // no metadata).
  write_json_file(dir / "adapter_config.json", adapter_config);
  io::save_safetensors(dir / "adapter.safetensors", adapter);
  // PredictionHeadLoader.save with no head name (a plain transformers model): build_full_config
  // with config None, save_id2label (label2id), plus num_labels; the tensors outside distilbert.*.
  io::Json label2id = io::Json::object();
  for (std::size_t i = 0; i < model.config.id2label.size(); ++i) label2id[model.config.id2label[i]] = i;
  write_json_file(dir / "head_config.json",
                  io::Json{{"config", nullptr},
                           {"hidden_size", model.config.dim},
                           {"label2id", label2id},
                           {"model_class", "DistilBertForSequenceClassification"},
                           {"model_name", config.model_name},
                           {"model_type", "distilbert"},
                           {"name", nullptr},
                           {"num_labels", model.config.num_labels()},
                           {"version", kVersion}});
  io::save_safetensors(dir / "model_head.safetensors", head);
}

BottleneckConfig load_bottleneck_adapter(const std::filesystem::path& dir,
                                         model::DistilBertForSequenceClassificationImpl& model) {
  expect_peft_type(dir, kBottleneckType);
  const auto config_path = dir / "adapter_config.json";
  BottleneckConfig config = bottleneck_from_adapters_json(io::read_json(config_path), config_path.string());
  const auto weights_path = dir / "adapter.safetensors";
  if (!std::filesystem::exists(weights_path))
    throw FormatError("no adapter.safetensors", dir.string(),
                      "a folder saved with use_safetensors=True (pytorch_adapter.bin is not read)");
  const io::SafetensorsFile weights(weights_path);  // opened first: a bad file leaves the model untouched
  std::optional<io::SafetensorsFile> head_file;
  const auto head_path = dir / "model_head.safetensors";
  if (std::filesystem::exists(head_path)) {
    const auto head_config_path = dir / "head_config.json";
    const io::Json head_config = io::read_json(head_config_path);
    const auto n = io::get_field<std::int64_t>(head_config, "num_labels", head_config_path.string());
    if (n != model.config.num_labels())
      throw ConfigError("head with " + std::to_string(n) + " labels", head_config_path.string() + ": num_labels",
                        std::to_string(model.config.num_labels()) + ", the model's");
    head_file.emplace(head_path);
  }

  apply_bottleneck(model, config, 0);  // the drawn weights are all replaced below
  std::map<std::string, torch::Tensor> adapter_params, head_params;
  for (const auto& p : model.named_parameters()) {
    if (is_adapter_parameter(p.key(), config.adapter_name)) adapter_params.emplace(p.key(), p.value());
    else if (is_head_parameter(p.key())) head_params.emplace(p.key(), p.value());
  }
  // AdapterLoader.load / PredictionHeadLoader.load (loading.py): load_state_dict of the file's
  // tensors under the same names.
  copy_adapter_tensors(weights, adapter_params, weights_path);
  if (head_file) copy_adapter_tensors(*head_file, head_params, head_path);
  return config;
}

}  // namespace loraft::adapter
