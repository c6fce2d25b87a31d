#pragma once
/// @file
/// @brief DistilBERT in LibTorch, module for module as transformers 4.46.3 writes it
/// (src/transformers/models/distilbert/modeling_distilbert.py): the same submodule names, so
/// that `named_parameters()` lists exactly Hugging Face's parameter names, and the same
/// arithmetic, so that outputs agree to float32 rounding.
///
/// Every `nn.Linear` of the reference is a LinearLayer here (loraft/model/linear.h), held by
/// a LinearHost, so that an adapter (LoRA) can swap any of them for a wrapper with the same
/// forward.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "loraft/model/config.h"
#include "loraft/model/linear.h"

namespace loraft::model {

// ----- building blocks ----------------------------------------------------------------------

/// An elementwise activation chosen by name.
using Activation = std::function<torch::Tensor(const torch::Tensor&)>;

/// transformers' `get_activation(name)` for the names DistilBERT uses: "gelu" is
/// `GELUActivation`, i.e. the exact erf form `torch.nn.functional.gelu` (not the tanh
/// approximation), "relu" is ReLU. ConfigError for other names.
Activation make_activation(const std::string& name);

/// The fixed position table of `sinusoidal_pos_embds`, as `_create_sinusoidal_embeddings`
/// computes it: angle pos / 10000^(2*(j//2)/dim) in float64, sin on even columns, cos on
/// odd ones, then rounded to float32. Shape [n_pos, dim].
torch::Tensor sinusoidal_position_table(std::int64_t n_pos, std::int64_t dim);

/// HF `Embeddings`: word + position embeddings, LayerNorm (eps 1e-12), dropout; optionally
/// with learned virtual tokens in front of the words (add_virtual_tokens()).
class EmbeddingsImpl : public torch::nn::Module {
 public:
  /// Builds the tables (word table with padding_idx = pad_token_id).
  explicit EmbeddingsImpl(const DistilBertConfig& config);
  /// input_ids [B, T] (int64) -> [B, nv + T, dim], nv = num_virtual_tokens() (0 unless
  /// added); positions are 0 ... nv + T - 1.
  torch::Tensor forward(const torch::Tensor& input_ids);

  /// Soft-prompt tuning's learned input vectors (Lester et al. 2021), as a generic part of the
  /// model: registers the trainable parameter `virtual_tokens` [nv, dim] (named
  /// `distilbert.embeddings.virtual_tokens` in the task models), a copy of `init` in the word
  /// table's device and dtype. From then on forward() puts them in front of the word
  /// embeddings of every row, before the position embeddings: they take positions 0 ... nv-1
  /// and the real tokens nv ... nv+T-1, and the LayerNorm and dropout apply to them too.
  /// That is exactly what transformers' Embeddings.forward computes when the model is called
  /// with `inputs_embeds = cat(prompt, word_embeddings(input_ids))` and no position ids.
  /// DistilBertModel::forward extends the attention mask with ones for them. ConfigError if
  /// `init` is not [nv >= 1, dim] floating point, or the model already has virtual tokens.
  void add_virtual_tokens(const torch::Tensor& init);
  /// Number of virtual tokens in front of every input (0 when none were added).
  std::int64_t num_virtual_tokens() const;

  torch::nn::Embedding word_embeddings;      ///< [vocab_size, dim]
  torch::nn::Embedding position_embeddings;  ///< [max_position_embeddings, dim]
  torch::nn::LayerNorm layer_norm;           ///< registered under HF's name "LayerNorm"
  torch::nn::Dropout dropout;                ///< config.dropout
  torch::Tensor virtual_tokens;              ///< [nv, dim] after add_virtual_tokens(), else undefined
};
/// Holder of EmbeddingsImpl.
TORCH_MODULE(Embeddings);

/// HF `MultiHeadSelfAttention` (eager path): q_lin, k_lin, v_lin, out_lin.
class MultiHeadSelfAttentionImpl : public LinearHost {
 public:
  /// ConfigError unless n_heads divides dim.
  explicit MultiHeadSelfAttentionImpl(const DistilBertConfig& config);
  /// Self-attention over x [B, T, dim]; attention_mask [B, T], 0 for keys to ignore.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& attention_mask);
  /// The "sdpa" path on heads already split: q, k, v [B, n_heads, T, head_dim] -> the same
  /// shape; attention_mask [B, T] as forward's.
  torch::Tensor sdpa_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& attention_mask);

  std::int64_t n_heads;                   ///< number of heads
  std::int64_t dim;                       ///< model width
  bool sdpa;                              ///< config.attn_implementation == "sdpa"
  torch::nn::Dropout dropout;             ///< config.attention_dropout, on the weights
  std::shared_ptr<LinearLayer> q_lin;     ///< query projection [dim, dim]
  std::shared_ptr<LinearLayer> k_lin;     ///< key projection
  std::shared_ptr<LinearLayer> v_lin;     ///< value projection
  std::shared_ptr<LinearLayer> out_lin;   ///< output projection
};
/// Holder of MultiHeadSelfAttentionImpl.
TORCH_MODULE(MultiHeadSelfAttention);

/// HF `FFN`: lin1, activation, lin2, dropout.
class FFNImpl : public LinearHost {
 public:
  /// dim -> hidden_dim -> dim with config.activation.
  explicit FFNImpl(const DistilBertConfig& config);
  /// [..., dim] -> [..., dim].
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Dropout dropout;          ///< config.dropout, on the output
  std::shared_ptr<LinearLayer> lin1;   ///< [hidden_dim, dim]
  std::shared_ptr<LinearLayer> lin2;   ///< [dim, hidden_dim]
  Activation activation;               ///< from config.activation
};
/// Holder of FFNImpl.
TORCH_MODULE(FFN);

/// An extension point of TransformerBlock: a module that replaces one of the block's two
/// residual steps `layer_norm(sublayer_output + residual)`, and may use the block's LayerNorm
/// as it likes (e.g. a bottleneck adapter between the sublayer and its residual LayerNorm).
/// Installed with TransformerBlockImpl::set_residual_hook(); the block knows nothing else of it.
class ResidualHookImpl : public torch::nn::Module {
 public:
  /// What the block uses instead of `layer_norm(sublayer_output + residual)`: sublayer_output
  /// is the attention output (after out_lin) or the FFN output (after lin2 and its dropout),
  /// residual is the sublayer's input, layer_norm the block's sa_layer_norm or output_layer_norm.
  virtual torch::Tensor forward(const torch::Tensor& sublayer_output, const torch::Tensor& residual,
                                torch::nn::LayerNorm& layer_norm) = 0;
};

/// The two residual steps of a TransformerBlock.
enum class ResidualSite {
  attention,  ///< sa_output = sa_layer_norm(attention(x) + x)
  output,     ///< out = output_layer_norm(ffn(sa_output) + sa_output)
};

/// HF `TransformerBlock`, post-LN: h = LN(x + attn(x)); out = LN(h + ffn(h)).
class TransformerBlockImpl : public torch::nn::Module {
 public:
  /// Builds attention, FFN and the two LayerNorms (eps 1e-12).
  explicit TransformerBlockImpl(const DistilBertConfig& config);
  /// [B, T, dim] -> [B, T, dim].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& attention_mask);
  /// Installs `hook` at `site` (ResidualHookImpl), registered as the child module `name`, so
  /// that its parameters are named `<block>.<name>.<...>`. ConfigError if the site already
  /// has a hook or `hook` is null.
  void set_residual_hook(ResidualSite site, const std::string& name, std::shared_ptr<ResidualHookImpl> hook);
  /// The hook at `site`, or null when the site computes the plain residual LayerNorm.
  std::shared_ptr<ResidualHookImpl> residual_hook(ResidualSite site) const;

  MultiHeadSelfAttention attention;      ///< self-attention
  torch::nn::LayerNorm sa_layer_norm;    ///< after the attention residual
  FFN ffn;                               ///< feed-forward network
  torch::nn::LayerNorm output_layer_norm;  ///< after the FFN residual

 private:
  std::shared_ptr<ResidualHookImpl> attention_hook_;  // null: plain residual LayerNorm
  std::shared_ptr<ResidualHookImpl> output_hook_;     // null: plain residual LayerNorm
};
/// Holder of TransformerBlockImpl.
TORCH_MODULE(TransformerBlock);

/// HF `Transformer`: the stack of blocks, as the ModuleList `layer`.
class TransformerImpl : public torch::nn::Module {
 public:
  /// config.n_layers blocks.
  explicit TransformerImpl(const DistilBertConfig& config);
  /// Runs every block. When `hidden_states` is given it receives the input of each block
  /// and the final output (n_layers + 1 tensors), as `output_hidden_states=True` does.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& attention_mask,
                        std::vector<torch::Tensor>* hidden_states = nullptr);

  torch::nn::ModuleList layer;  ///< TransformerBlock 0 ... n_layers-1
};
/// Holder of TransformerImpl.
TORCH_MODULE(Transformer);

/// What the encoder returns.
struct DistilBertOutput {
  torch::Tensor last_hidden_state;          ///< [B, nv + T, dim], nv virtual tokens first (usually 0)
  std::vector<torch::Tensor> hidden_states;  ///< embeddings, then each layer; empty unless asked
};

/// HF `DistilBertModel`: embeddings and transformer.
class DistilBertModelImpl : public torch::nn::Module {
 public:
  /// Validates the config (ConfigError). The weights are placeholders until init_weights()
  /// or a checkpoint sets them (the task models below do the former in their constructor).
  explicit DistilBertModelImpl(const DistilBertConfig& config);
  /// input_ids [B, T] (integer), attention_mask [B, T] (1 keep, 0 padding; all ones when
  /// undefined). With nv virtual tokens (EmbeddingsImpl::add_virtual_tokens) the states are
  /// [B, nv + T, dim], virtual tokens first, and the mask is extended with nv leading ones
  /// (they are always attended), as a Hugging Face model called with the prompt in
  /// `inputs_embeds` and `cat(ones(B, nv), attention_mask)` computes. Throws ConfigError for
  /// inputs the model cannot take (rank, nv + T beyond max_position_embeddings, ids outside
  /// the vocabulary, mask shape).
  DistilBertOutput forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                           bool output_hidden_states = false);

  DistilBertConfig config;   ///< the configuration it was built from
  Embeddings embeddings;     ///< token + position embeddings
  Transformer transformer;   ///< the blocks
};
/// Holder of DistilBertModelImpl.
TORCH_MODULE(DistilBertModel);

// ----- task heads ---------------------------------------------------------------------------

/// What the classifier returns when asked for everything.
struct SequenceClassifierOutput {
  torch::Tensor logits;                      ///< [B, num_labels]
  torch::Tensor last_hidden_state;           ///< [B, nv + T, dim], as DistilBertOutput
  std::vector<torch::Tensor> hidden_states;  ///< as DistilBertOutput
};

/// HF `DistilBertForSequenceClassification`:
/// logits = classifier(dropout(relu(pre_classifier(h[:, 0])))).
class DistilBertForSequenceClassificationImpl : public LinearHost {
 public:
  /// Builds the model and initialises every weight from `seed` (init_weights()).
  DistilBertForSequenceClassificationImpl(const DistilBertConfig& config, std::uint64_t seed);
  /// Logits [B, num_labels].
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {});
  /// Logits and the encoder's states from one pass.
  SequenceClassifierOutput forward_with_states(const torch::Tensor& input_ids,
                                               const torch::Tensor& attention_mask = {},
                                               bool output_hidden_states = true);
  /// The head alone, on a last hidden state [B, T, dim]. It reads position 0, which with
  /// virtual tokens is the first virtual token, not [CLS] (as transformers' head does on a
  /// sequence whose inputs_embeds start with a prompt).
  torch::Tensor classify(const torch::Tensor& last_hidden_state);

  DistilBertConfig config;                    ///< the configuration it was built from
  DistilBertModel distilbert;                 ///< the encoder ("distilbert." names)
  std::shared_ptr<LinearLayer> pre_classifier;  ///< [dim, dim]
  std::shared_ptr<LinearLayer> classifier;      ///< [num_labels, dim]
  torch::nn::Dropout dropout;                 ///< config.seq_classif_dropout
};
/// Holder of DistilBertForSequenceClassificationImpl.
TORCH_MODULE(DistilBertForSequenceClassification);

/// HF's `vocab_projector` (`nn.Linear(dim, vocab_size)`) whose weight is the word embedding
/// table itself when the config ties them (`tie_word_embeddings`, the default): the same
/// tensor, read at every forward, and not registered a second time, so that
/// `named_parameters()` lists it once, as transformers' (deduplicating) does.
class VocabProjectorImpl : public torch::nn::Module {
 public:
  /// `tied` is the embedding to share; when `tie` is false the layer gets its own `weight`.
  VocabProjectorImpl(torch::nn::Embedding tied, std::int64_t dim, std::int64_t vocab_size, bool tie);
  /// [..., dim] -> [..., vocab_size].
  torch::Tensor forward(const torch::Tensor& x);
  /// The weight in use: the word embedding table when tied.
  torch::Tensor weight() const;
  /// Whether the weight is the word embedding table.
  bool tied() const { return !own_weight_.defined(); }

  torch::Tensor bias;  ///< [vocab_size]

 private:
  torch::nn::Embedding embedding_;  // not registered: it belongs to the encoder
  torch::Tensor own_weight_;        // registered as "weight" only when untied
};
/// Holder of VocabProjectorImpl.
TORCH_MODULE(VocabProjector);

/// What the MLM model returns when asked for everything.
struct MaskedLMOutput {
  torch::Tensor logits;                      ///< [B, nv + T, vocab_size], virtual tokens first
  torch::Tensor last_hidden_state;           ///< [B, nv + T, dim], as DistilBertOutput
  std::vector<torch::Tensor> hidden_states;  ///< as DistilBertOutput
};

/// HF `DistilBertForMaskedLM`: vocab_transform, activation, vocab_layer_norm, vocab_projector.
class DistilBertForMaskedLMImpl : public LinearHost {
 public:
  /// Builds the model, initialises it from `seed` and ties the projector to the embeddings.
  DistilBertForMaskedLMImpl(const DistilBertConfig& config, std::uint64_t seed);
  /// MLM logits [B, T, vocab_size] at every position.
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {});
  /// Logits and the encoder's states from one pass.
  MaskedLMOutput forward_with_states(const torch::Tensor& input_ids,
                                     const torch::Tensor& attention_mask = {},
                                     bool output_hidden_states = true);
  /// Logits only where `selected` ([B, T] bool) is true: [N, vocab_size], rows in row-major
  /// order of the selected positions. The projection (the costly part: dim x vocab per
  /// position) runs only on those rows, as an MLM loss over 15% masked tokens needs.
  /// `selected` refers to input_ids' positions: virtual tokens are never selected.
  torch::Tensor forward_selected(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                 const torch::Tensor& selected);
  /// The MLM head alone on hidden states [..., dim] -> [..., vocab_size].
  torch::Tensor predict(const torch::Tensor& hidden);

  DistilBertConfig config;                       ///< the configuration it was built from
  DistilBertModel distilbert;                    ///< the encoder
  std::shared_ptr<LinearLayer> vocab_transform;  ///< [dim, dim]
  torch::nn::LayerNorm vocab_layer_norm;         ///< eps 1e-12
  VocabProjector vocab_projector;                ///< tied to the word embeddings
  Activation activation;                         ///< config.activation
};
/// Holder of DistilBertForMaskedLMImpl.
TORCH_MODULE(DistilBertForMaskedLM);

// ----- initialisation and accounting --------------------------------------------------------

/// transformers' `DistilBertPreTrainedModel._init_weights`, applied to every submodule of
/// `module`, drawing from a CPU generator seeded with `seed` (module order, so a seed always
/// gives the same weights, on any device): Linear weights N(0, initializer_range²) and zero
/// biases; Embedding weights N(0, initializer_range²) with the padding_idx row zeroed;
/// LayerNorm weight 1, bias 0; with sinusoidal_pos_embds the position table is
/// sinusoidal_position_table() and frozen (requires_grad false, as
/// `_create_sinusoidal_embeddings` sets it).
void init_weights(torch::nn::Module& module, const DistilBertConfig& config, std::uint64_t seed);

/// Number of parameter elements of `module`, each tensor counted once (as
/// `sum(p.numel() for p in model.parameters())`); only those with requires_grad when
/// `trainable_only`.
std::int64_t count_parameters(const torch::nn::Module& module, bool trainable_only = false);

}  // namespace loraft::model
