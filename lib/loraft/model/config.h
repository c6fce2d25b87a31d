#pragma once
/// @file
/// @brief DistilBertConfig: the hyper-parameters of a DistilBERT model, read from and written
/// to Hugging Face's `config.json`.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/version.h>

#include "loraft/io/json.h"

/// 1 where LibTorch has `scaled_dot_product_attention` (public ATen API since torch 2.0): the
/// one version guard of the fused attention path.
#define LORAFT_HAVE_SDPA (TORCH_VERSION_MAJOR >= 2)

namespace loraft::model {

/// The version of transformers whose behaviour loraft reproduces (and writes into
/// `config.json` as `transformers_version`, as `save_pretrained` does).
inline constexpr const char* kReferenceTransformersVersion = "4.46.3";

/// True when the LibTorch loraft was compiled against has `scaled_dot_product_attention` (2.x).
constexpr bool sdpa_available() { return LORAFT_HAVE_SDPA; }

/// "sdpa" where sdpa_available(), else "eager": transformers' default on the same torch.
std::string default_attn_implementation();

/// The most classes a config may name (as data::read_table infers at most): a damaged or
/// hostile `num_labels` (1e12) is refused instead of making that many label names.
inline constexpr std::int64_t kMaxNumLabels = 100000;

/// DistilBERT hyper-parameters, with the defaults of transformers' `DistilBertConfig()`
/// (configuration_distilbert.py), which are those of `distilbert-base-uncased`.
struct DistilBertConfig {
  std::int64_t vocab_size = 30522;             ///< rows of the word embedding table
  std::int64_t max_position_embeddings = 512;  ///< longest sequence the model accepts
  bool sinusoidal_pos_embds = false;           ///< fixed sin/cos position table instead of learned
  std::int64_t n_layers = 6;                   ///< transformer blocks
  std::int64_t n_heads = 12;                   ///< attention heads; must divide dim
  std::int64_t dim = 768;                      ///< hidden size
  std::int64_t hidden_dim = 3072;              ///< inner size of the feed-forward network
  double dropout = 0.1;                        ///< embeddings, FFN output
  double attention_dropout = 0.1;              ///< on the attention weights
  std::string activation = "gelu";             ///< FFN and MLM-head activation: "gelu" or "relu"
  double initializer_range = 0.02;             ///< std of the normal init of weights
  double qa_dropout = 0.1;                     ///< kept for config round trips (no QA head here)
  double seq_classif_dropout = 0.2;            ///< dropout of the classification head
  std::int64_t pad_token_id = 0;               ///< padding_idx of the word embeddings
  bool tie_word_embeddings = true;             ///< MLM vocab_projector shares the word embeddings
  /// Label names by class index; its size is num_labels. PretrainedConfig's default is two
  /// labels named LABEL_0 and LABEL_1.
  std::vector<std::string> id2label = {"LABEL_0", "LABEL_1"};
  /// How attention is computed, as transformers' `config._attn_implementation`: "eager"
  /// (`MultiHeadSelfAttention`: matmul, masked_fill, softmax, dropout, matmul) or "sdpa"
  /// (`DistilBertSdpaAttention`: one fused `scaled_dot_product_attention`, LibTorch 2.x only).
  /// transformers 4.46.3 chooses "sdpa" wherever torch has it, and so does the default here.
  /// Like transformers' field it is a run-time choice: never read from or written to config.json.
  std::string attn_implementation = default_attn_implementation();
  /// config.json keys loraft does not interpret (e.g. `tie_weights_`, `output_past`,
  /// `problem_type`), written back unchanged so that a load/save round trip loses nothing.
  io::Json extra = io::Json::object();

  /// Number of classes of the classification head.
  std::int64_t num_labels() const { return static_cast<std::int64_t>(id2label.size()); }
  /// Sets `n` classes named LABEL_0 ... LABEL_{n-1}, as `from_pretrained(num_labels=n)` does;
  /// ConfigError unless 1 <= n <= kMaxNumLabels.
  void set_num_labels(std::int64_t n);
  /// dim / n_heads.
  std::int64_t head_dim() const { return dim / n_heads; }

  /// Throws ConfigError (naming `where`) if the values cannot make a model: dim not a
  /// multiple of n_heads, unknown activation, non-positive sizes, dropouts outside [0, 1],
  /// pad_token_id outside the vocabulary, no labels.
  void validate(const std::string& where = "DistilBertConfig") const;

  /// Reads a Hugging Face config object (as `DistilBertConfig.from_dict`): missing keys keep
  /// their defaults; num_labels comes from `id2label` (or a `num_labels` key). Validates.
  /// Throws ConfigError (or FormatError for wrongly typed values) naming `where`.
  static DistilBertConfig from_json(const io::Json& json, const std::string& where = "config");

  /// Reads and validates a `config.json` file.
  static DistilBertConfig from_file(const std::filesystem::path& path);

  /// The object `save_pretrained` writes (`PretrainedConfig.to_diff_dict`): every DistilBERT
  /// field, `model_type`, `architectures`, `torch_dtype` "float32", `transformers_version`,
  /// `pad_token_id`, `id2label`/`label2id` unless they are the default two labels, and the
  /// extra keys.
  io::Json to_json(const std::vector<std::string>& architectures) const;

  /// Writes `to_json(architectures)` as transformers does (`json.dumps(indent=2,
  /// sort_keys=True)` plus a newline), atomically.
  void save(const std::filesystem::path& path, const std::vector<std::string>& architectures) const;
};

/// `config` after config.validate(): for member initialiser lists that must refuse a bad
/// config before building anything from it.
DistilBertConfig validated(const DistilBertConfig& config);

}  // namespace loraft::model
