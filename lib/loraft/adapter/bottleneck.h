#pragma once
/// @file
/// @brief Bottleneck adapters (Houlsby et al. 2019, Pfeiffer et al. 2020) on DistilBERT, as
/// AdapterHub's `adapters` library defines them: `DoubleSeqBnConfig` (Houlsby) and `SeqBnConfig`
/// (Pfeiffer), their placement in the TransformerBlock, init, training set and saved folder.
///
/// Reference: adapter-hub/adapters at commit f0ca96200d40138e3e2b541ce9789e1119131a99 (main,
/// 1.1.0.dev0, the only commits that accept transformers 4.46.3 are this one and 702381ed5; no
/// release does), src/adapters/. Fixtures: tests/fixtures/methods/bottleneck_{houlsby,pfeiffer}
/// (tests/fixtures/README.md, "Bottleneck adapters").
///
/// Parameters get exactly the reference's names, e.g.
/// `distilbert.transformer.layer.0.output_adapters.adapters.bottleneck.adapter_down.0.weight`
/// (`<site>_adapters.adapters.<adapter name>.adapter_down.0` / `.adapter_up`), so the saved
/// tensors, the gradients and the parameter lists read the same in both.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "loraft/io/json.h"
#include "loraft/io/settings.h"
#include "loraft/model/distilbert.h"

namespace loraft::adapter {

/// The two configurations of `adapters` (configuration/adapter_config.py).
enum class BottleneckVariant {
  /// `DoubleSeqBnConfig` ("double_seq_bn"): an adapter after the attention and one after the
  /// FFN, each on the sublayer output before the block's LayerNorm (original_ln_before False),
  /// non-linearity "swish".
  houlsby,
  /// `SeqBnConfig` ("seq_bn", `add_adapter`'s default): one adapter after the FFN only, on the
  /// output of the block's LayerNorm (original_ln_before True), non-linearity "relu".
  pfeiffer,
};

/// "houlsby" or "pfeiffer".
const char* to_string(BottleneckVariant variant);
/// By name; ConfigError naming `where` for another name.
BottleneckVariant parse_bottleneck_variant(const std::string& name, const std::string& where);

/// A bottleneck adapter's settings. The other `BnConfig` fields stay at the two configs'
/// defaults (scaling 1.0, dropout 0.0, no gating, no adapter LayerNorms, residual_before_ln
/// True, original_ln_after True, init_weights "bert", not parallel, no PHM, no invertible
/// adapter); load_bottleneck_adapter() refuses a folder that changes them.
struct BottleneckConfig {
  BottleneckVariant variant = BottleneckVariant::pfeiffer;  ///< which configuration
  /// dim / reduction_factor (integer division, at least 1) is the bottleneck width
  /// (`BottleneckLayer.add_adapter`: `int(hidden_size // reduction_factor)`, `Adapter.__init__`:
  /// at least 1). Both configs default to 16. adapters also takes a real or per-layer
  /// factor; loraft takes a positive integer.
  std::int64_t reduction_factor = 16;
  /// transformers `get_activation` name of the non-linearity between the projections
  /// (`Activation_Function_Class`, which lower-cases it): relu, swish, silu, gelu, tanh,
  /// sigmoid or leakyrelu. Unset: the variant's default (non_linearity_name()).
  std::optional<std::string> non_linearity;
  /// The adapter's name: part of every parameter name and of adapter_config.json ("name").
  std::string adapter_name = "bottleneck";
  /// Recorded as "model_name" in the saved configs (adapters writes the name the base model
  /// was loaded by).
  std::string model_name;

  /// The non-linearity in use: non_linearity, or "swish" (Houlsby) / "relu" (Pfeiffer).
  std::string non_linearity_name() const;
  /// ConfigError for reduction_factor < 1, an unknown non-linearity or an adapter name that is
  /// empty or contains a dot.
  void validate() const;

  /// The fields a run configuration records (io/settings.h), with their flags; adapter_name
  /// and model_name belong to the saved folder alone.
  template <class Self, class Visitor>
  static void fields(Self& c, Visitor&& v) {
    using io::setting;
    v(setting("variant", c.variant).flag("bottleneck-variant", "houlsby or pfeiffer (default pfeiffer)"));
    v(setting("reduction_factor", c.reduction_factor)
          .flag("bottleneck-reduction-factor", "bottleneck width = dim / factor (default 16)")
          .rule(io::at_least<std::int64_t>(1), ">= 1"));
    v(setting("non_linearity", c.non_linearity)
          .flag("bottleneck-non-linearity", "relu, swish, silu, gelu, tanh, sigmoid, leakyrelu "
                                            "(default: swish for houlsby, relu for pfeiffer)"));
  }
};

/// One adapter: `up(act(down(a)))`, `adapters` `Adapter` (methods/modeling.py) with the
/// default BnConfig fields (no LayerNorms, scaling 1.0, dropout 0). `adapter_down` is a
/// Sequential (0: dense dim -> width, 1: the non-linearity) and `adapter_up` dense width -> dim,
/// as in the reference (where they are `nn.Linear`s).
class BottleneckAdapterImpl : public torch::nn::Module {
 public:
  /// Zero weights of the right shapes; apply_bottleneck() draws the values.
  BottleneckAdapterImpl(std::int64_t dim, std::int64_t width, const std::string& non_linearity);
  /// [..., dim] -> [..., dim]: up(act(down(a))), without the residual.
  torch::Tensor forward(const torch::Tensor& a);

  torch::nn::Sequential adapter_down;  ///< 0: dense [width, dim], 1: the non-linearity
  model::Dense down;                   ///< adapter_down's dense layer
  model::Dense adapter_up;             ///< dense [dim, width]
};
/// Holder of BottleneckAdapterImpl.
TORCH_MODULE(BottleneckAdapter);

/// One residual site of a block with its adapter (`adapters` `BottleneckLayer`, a
/// model::ResidualHookImpl). With h the sublayer output, x the residual, LN the block's
/// LayerNorm (frozen; both sites of the rule use the same module):
/// `a = LN(h + x)` (original_ln_before, Pfeiffer) or `a = h` (Houlsby);
/// `out = LN(h + up(act(down(a))) + x)`
/// (`Adapter.pre_forward`: residual = h since residual_before_ln; `Adapter.forward`: + residual;
/// `Adapter.post_forward`: LN(. + x) since original_ln_after).
class BottleneckSiteImpl : public model::ResidualHookImpl {
 public:
  /// Registers `adapter` as `adapters.<adapter_name>`.
  BottleneckSiteImpl(const std::string& adapter_name, BottleneckAdapter adapter, bool original_ln_before);
  /// The rule above.
  torch::Tensor forward(const torch::Tensor& sublayer_output, const torch::Tensor& residual,
                        torch::nn::LayerNorm& layer_norm) override;

  torch::nn::ModuleDict adapters;  ///< the one adapter, by name (the reference's ModuleDict)
  BottleneckAdapter adapter;       ///< that adapter
  bool original_ln_before;         ///< apply the block's LayerNorm before the adapter too
};

/// What apply_bottleneck() did.
struct BottleneckInjection {
  std::vector<std::string> sites;      ///< the hooked sites, e.g. `distilbert.transformer.layer.0.attention_adapters`
  std::int64_t adapter_parameters = 0;  ///< numel of the adapter tensors
  std::int64_t trainable_parameters = 0;  ///< adapter + head (pre_classifier, classifier)
};

/// Number of adapter parameters for a DistilBERT of width `dim` and `n_layers` blocks:
/// sites × n_layers × (2 · dim · width + width + dim), with 2 sites for Houlsby and 1 for
/// Pfeiffer (`adapter_summary()`'s "#Param"). ConfigError for an invalid config.
std::int64_t bottleneck_parameter_count(const BottleneckConfig& config, std::int64_t dim, std::int64_t n_layers);

/// Adds the adapter to every block of `model` and sets what trains as
/// `model.add_adapter(name, config)` + `model.train_adapter(name)` do on a transformers
/// DistilBertForSequenceClassification after `adapters.init(model)`: every parameter of the
/// encoder (`distilbert.*`, adapters' `freeze_model` on `base_model`) is frozen, the adapter
/// trains, and the head (`pre_classifier`, `classifier`) keeps its requires_grad (trainable).
/// Weights as `Adapter.__init__` with init_weights "bert" draws them after
/// `torch.manual_seed(seed)`: per block, attention site (Houlsby) before output site, each
/// `nn.Linear(dim, width)` and `nn.Linear(width, dim)` default init (kaiming-uniform weight,
/// uniform bias) then `init_bert_weights`: weight ~ N(0, 0.02²) (down, then up), bias 0. The
/// draws come from a generator of their own (the global one is untouched), made on the CPU in
/// float32 and moved to the model's device and dtype. ConfigError for an invalid config or a
/// model that already has residual hooks.
BottleneckInjection apply_bottleneck(model::DistilBertForSequenceClassificationImpl& model,
                                     const BottleneckConfig& config, std::uint64_t seed);

/// adapter_config.json as `save_adapter` writes it (`build_full_config`: the full BnConfig
/// dict under "config", hidden_size, model_class, model_name, model_type, name, version
/// "adapters.1.1.0.dev0"; keys sorted, indent 2, as `json.dump(indent=2, sort_keys=True)`).
io::Json to_adapters_json(const BottleneckConfig& config, const model::DistilBertConfig& model_config);

/// Reads an adapters adapter_config.json (`where` names it in errors). FormatError when it is
/// not one (a PEFT folder: `peft_type`, no "config" object); ConfigError naming the field for
/// a model_type other than distilbert, a BnConfig field loraft does not implement at another
/// value than the two configs' defaults, an unknown field, or a layout that is neither
/// Houlsby nor Pfeiffer.
BottleneckConfig bottleneck_from_adapters_json(const io::Json& json, const std::string& where);

/// Writes the folder `model.save_adapter(dir, name, use_safetensors=True)` writes for a plain
/// DistilBertForSequenceClassification (loading.py `AdapterLoader.save` and
/// `PredictionHeadLoader.save`): adapter_config.json, adapter.safetensors (the adapter tensors,
/// reference names), head_config.json (label2id, num_labels) and model_head.safetensors
/// (`pre_classifier.*`, `classifier.*`). JSON without a final newline, as `json.dump` writes it.
void save_bottleneck_adapter(const std::filesystem::path& dir, model::DistilBertForSequenceClassificationImpl& model,
                             const BottleneckConfig& config);

/// Loads such a folder into a plain model: apply_bottleneck() with its config, then the adapter
/// tensors and, when model_head.safetensors is there, the head (`load_adapter(dir)` with
/// with_head=True; the head files are optional there too). Returns the config. FormatError for
/// another method's folder (PEFT's adapter_config.json), a missing, extra or misshapen tensor;
/// ConfigError as bottleneck_from_adapters_json() and apply_bottleneck(), or for a head whose
/// num_labels differs from the model's.
BottleneckConfig load_bottleneck_adapter(const std::filesystem::path& dir,
                                         model::DistilBertForSequenceClassificationImpl& model);

}  // namespace loraft::adapter

namespace loraft::io {
/// BottleneckVariant by name in settings.
template <>
struct EnumNames<adapter::BottleneckVariant> {
  static const char* to_string(adapter::BottleneckVariant v) { return adapter::to_string(v); }  ///< its name
  static adapter::BottleneckVariant parse(const std::string& name, const std::string& where) {
    return adapter::parse_bottleneck_variant(name, where);
  }  ///< by name
};
}  // namespace loraft::io
