// DistilBERT, following transformers 4.46.3 src/transformers/models/distilbert/modeling_distilbert.py
// (commit 052e652d6d53c2b26ffde87e039b723949a53493) line for line; comments name the
// reference function each rule comes from.
#include "loraft/model/distilbert.h"

#include <cmath>
#include <limits>
#include <set>

#include <ATen/CPUGeneratorImpl.h>

#include "loraft/core/error.h"
#include "loraft/core/threads.h"

namespace loraft::model {
namespace {

// HF hard-codes eps=1e-12 for every DistilBERT LayerNorm (it is not a config field).
constexpr double kLayerNormEps = 1e-12;

torch::nn::LayerNorm make_layer_norm(std::int64_t dim) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(kLayerNormEps));
}

// `torch.finfo(scores.dtype).min`: the most negative finite value of the scores' dtype.
torch::Scalar finfo_min(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Double: return std::numeric_limits<double>::lowest();
    case c10::ScalarType::Half: return std::numeric_limits<c10::Half>::lowest();
    case c10::ScalarType::BFloat16: return std::numeric_limits<c10::BFloat16>::lowest();
    default: return std::numeric_limits<float>::lowest();
  }
}

// DistilBertModel.forward's inputs as int64 [batch, length] ids and mask (ones where none is
// given, as the reference). The id range is checked where the ids are on the CPU, which costs
// no device synchronisation; ids on a device come from the Trainer, whose rows are checked
// against the vocabulary once, when it is built. `virtual_tokens` more positions go in front
// of the ids (EmbeddingsImpl::add_virtual_tokens), so they count against the position table.
std::pair<torch::Tensor, torch::Tensor> check_inputs(const DistilBertConfig& config, const torch::Tensor& input_ids,
                                                     const torch::Tensor& attention_mask,
                                                     std::int64_t virtual_tokens) {
  const char* where = "DistilBertModel.forward";
  if (!input_ids.defined() || input_ids.dim() != 2)
    throw ConfigError("input_ids must have shape [batch, length]", where, "a 2-D integer tensor");
  if (c10::isFloatingType(input_ids.scalar_type()) || input_ids.scalar_type() == torch::kBool)
    throw ConfigError("input_ids are not integers", where, "an integer tensor");
  const auto length = input_ids.size(1);
  if (length == 0 && input_ids.size(0) > 0)  // the heads read position 0 ([CLS])
    throw ConfigError("rows of length 0", where, "at least one token per row");
  if (length + virtual_tokens > config.max_position_embeddings)
    throw ConfigError("sequence length " + std::to_string(length) +
                          (virtual_tokens > 0 ? " + " + std::to_string(virtual_tokens) + " virtual tokens" : "") +
                          " exceeds max_position_embeddings " + std::to_string(config.max_position_embeddings),
                      where, "at most max_position_embeddings tokens, virtual tokens included");
  auto ids = input_ids.to(torch::kLong);
  if (ids.is_cpu() && ids.numel() > 0) {
    const auto lo = ids.min().item<std::int64_t>(), hi = ids.max().item<std::int64_t>();
    if (lo < 0 || hi >= config.vocab_size)
      throw ConfigError("token id " + std::to_string(lo < 0 ? lo : hi) + " is outside the vocabulary", where,
                        "0 <= id < vocab_size " + std::to_string(config.vocab_size));
  }
  if (!attention_mask.defined()) return {ids, torch::ones_like(ids)};
  if (attention_mask.sizes() != ids.sizes())
    throw ConfigError("attention_mask shape differs from input_ids", where, "the same [batch, length] shape");
  return {ids, attention_mask};
}

}  // namespace

// ----- building blocks ----------------------------------------------------------------------

Activation make_activation(const std::string& name) {
  // activations.py: ACT2FN["gelu"] is GELUActivation -> nn.functional.gelu (exact erf form).
  if (name == "gelu") return [](const torch::Tensor& x) { return torch::gelu(x); };
  if (name == "relu") return [](const torch::Tensor& x) { return torch::relu(x); };
  throw ConfigError("unknown activation \"" + name + "\"", "activation", "\"gelu\" or \"relu\"");
}

torch::Tensor sinusoidal_position_table(std::int64_t n_pos, std::int64_t dim) {
  // _create_sinusoidal_embeddings: position_enc = pos / np.power(10000, 2 * (j // 2) / dim)
  // in float64; out[:, 0::2] = sin, out[:, 1::2] = cos; torch.FloatTensor rounds to float32.
  auto table = torch::empty({n_pos, dim}, torch::kFloat);
  auto acc = table.accessor<float, 2>();
  for (std::int64_t pos = 0; pos < n_pos; ++pos) {
    for (std::int64_t j = 0; j < dim; ++j) {
      const double angle = static_cast<double>(pos) /
                           std::pow(10000.0, static_cast<double>(2 * (j / 2)) / static_cast<double>(dim));
      acc[pos][j] = static_cast<float>(j % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  }
  return table;
}

EmbeddingsImpl::EmbeddingsImpl(const DistilBertConfig& c)
    : word_embeddings(register_module(
          "word_embeddings",
          torch::nn::Embedding(torch::nn::EmbeddingOptions(c.vocab_size, c.dim).padding_idx(c.pad_token_id)))),
      position_embeddings(register_module(
          "position_embeddings", torch::nn::Embedding(c.max_position_embeddings, c.dim))),
      layer_norm(register_module("LayerNorm", make_layer_norm(c.dim))),
      dropout(register_module("dropout", torch::nn::Dropout(c.dropout))) {}

torch::Tensor EmbeddingsImpl::forward(const torch::Tensor& input_ids) {
  auto words = word_embeddings(input_ids);
  // The virtual tokens go first, as a prompt placed at the start of inputs_embeds; every row
  // gets the same vectors (expand: no copy until the concatenation).
  if (virtual_tokens.defined())
    words = torch::cat({virtual_tokens.unsqueeze(0).expand({words.size(0), -1, -1}), words}, 1);
  // Embeddings.forward: position_ids = arange(seq_length) over the whole sequence (prompt
  // included), broadcast over the batch.
  const auto seq_length = words.size(1);
  auto position_ids = torch::arange(seq_length, input_ids.options().dtype(torch::kLong)).unsqueeze(0);
  auto embeddings = words + position_embeddings(position_ids);
  return dropout(layer_norm(embeddings));
}

void EmbeddingsImpl::add_virtual_tokens(const torch::Tensor& init) {
  const char* where = "Embeddings.add_virtual_tokens";
  const auto dim = word_embeddings->weight.size(1);
  if (virtual_tokens.defined())
    throw ConfigError("the model already has " + std::to_string(num_virtual_tokens()) + " virtual tokens", where,
                      "a model without virtual tokens");
  if (!init.defined() || init.dim() != 2 || init.size(0) < 1 || init.size(1) != dim ||
      !c10::isFloatingType(init.scalar_type()))
    throw ConfigError("virtual tokens must be a floating-point [num_virtual_tokens, " + std::to_string(dim) +
                          "] tensor",
                      where, "shape [nv >= 1, dim]");
  // A copy in the word table's device and dtype: the two are concatenated at every forward.
  const auto& table = word_embeddings->weight;
  auto value = init.detach().to(table.device(), table.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
  virtual_tokens = register_parameter("virtual_tokens", value, /*requires_grad=*/true);
}

std::int64_t EmbeddingsImpl::num_virtual_tokens() const {
  return virtual_tokens.defined() ? virtual_tokens.size(0) : 0;
}

MultiHeadSelfAttentionImpl::MultiHeadSelfAttentionImpl(const DistilBertConfig& c)
    : n_heads(c.n_heads),
      dim(c.dim),
      sdpa(c.attn_implementation == "sdpa"),
      dropout(register_module("dropout", torch::nn::Dropout(c.attention_dropout))),
      q_lin(register_linear("q_lin", q_lin, dense(c.dim, c.dim))),
      k_lin(register_linear("k_lin", k_lin, dense(c.dim, c.dim))),
      v_lin(register_linear("v_lin", v_lin, dense(c.dim, c.dim))),
      out_lin(register_linear("out_lin", out_lin, dense(c.dim, c.dim))) {
  if (c.n_heads <= 0 || c.dim % c.n_heads != 0)
    throw ConfigError("n_heads " + std::to_string(c.n_heads) + " does not divide dim " + std::to_string(c.dim),
                      "DistilBertConfig", "n_heads dividing dim evenly");
}

torch::Tensor MultiHeadSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& attention_mask) {
  const auto bs = x.size(0);
  const auto k_length = x.size(1);
  const auto dim_per_head = dim / n_heads;
  auto shape = [&](const torch::Tensor& t) {  // separate heads
    return t.view({bs, -1, n_heads, dim_per_head}).transpose(1, 2);
  };
  auto unshape = [&](const torch::Tensor& t) {  // group heads
    return t.transpose(1, 2).contiguous().view({bs, -1, n_heads * dim_per_head});
  };
  auto q = shape(q_lin->forward(x));  // (bs, n_heads, q_length, dim_per_head)
  auto k = shape(k_lin->forward(x));
  auto v = shape(v_lin->forward(x));
  if (sdpa) return out_lin->forward(unshape(sdpa_attention(q, k, v, attention_mask)));
  // MultiHeadSelfAttention.forward scales q *before* the product (not the scores after it);
  // the rounding differs, so the order is kept.
  q = q / std::sqrt(static_cast<double>(dim_per_head));
  auto scores = torch::matmul(q, k.transpose(2, 3));  // (bs, n_heads, q_length, k_length)
  // Padded keys get torch.finfo(dtype).min, not -inf: a row whose keys are all padding then
  // still softmaxes to a uniform distribution instead of NaN, exactly as the eager path.
  auto mask = (attention_mask == 0).view({bs, 1, 1, k_length}).expand_as(scores);
  scores = scores.masked_fill(mask, finfo_min(scores.scalar_type()));
  auto weights = dropout(torch::softmax(scores, -1));
  auto context = unshape(torch::matmul(weights, v));  // (bs, q_length, dim)
  return out_lin->forward(context);
}

torch::Tensor MultiHeadSelfAttentionImpl::sdpa_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                         const torch::Tensor& v,
                                                         const torch::Tensor& attention_mask) {
#if LORAFT_HAVE_SDPA  // config validation refuses "sdpa" elsewhere
  // DistilBertSdpaAttention.forward with the mask of _prepare_4d_attention_mask_for_sdpa: an
  // additive float mask, 0 where attended and finfo(dtype).min at padded keys (so a row of
  // padding stays finite, as in the eager path). Broadcast over heads and queries instead of
  // expanded to [B, 1, T, T]: the same values, without the copy. Dropout on the weights is
  // SDPA's own (dropout_p while training), so its draws differ from the eager path's.
  const auto bs = q.size(0);
  const auto k_length = k.size(2);
  auto additive = torch::zeros({bs, 1, 1, k_length}, q.options())
                      .masked_fill((attention_mask == 0).view({bs, 1, 1, k_length}), finfo_min(q.scalar_type()));
  const double dropout_p = is_training() ? dropout->options.p() : 0.0;
  return at::scaled_dot_product_attention(q, k, v, additive, dropout_p, /*is_causal=*/false);
#else
  (void)q, (void)k, (void)v, (void)attention_mask;
  throw ConfigError("scaled_dot_product_attention needs LibTorch 2.x", "MultiHeadSelfAttention", "\"eager\"");
#endif
}

FFNImpl::FFNImpl(const DistilBertConfig& c)
    : dropout(register_module("dropout", torch::nn::Dropout(c.dropout))),
      lin1(register_linear("lin1", lin1, dense(c.dim, c.hidden_dim))),
      lin2(register_linear("lin2", lin2, dense(c.hidden_dim, c.dim))),
      activation(make_activation(c.activation)) {}

torch::Tensor FFNImpl::forward(const torch::Tensor& x) {
  // FFN.ff_chunk (chunk_size_feed_forward is 0: one chunk).
  return dropout(lin2->forward(activation(lin1->forward(x))));
}

TransformerBlockImpl::TransformerBlockImpl(const DistilBertConfig& c)
    : attention(register_module("attention", MultiHeadSelfAttention(c))),
      sa_layer_norm(register_module("sa_layer_norm", make_layer_norm(c.dim))),
      ffn(register_module("ffn", FFN(c))),
      output_layer_norm(register_module("output_layer_norm", make_layer_norm(c.dim))) {}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& attention_mask) {
  // TransformerBlock.forward: post-LN residuals (or what a residual hook puts in their place).
  auto a = attention->forward(x, attention_mask);
  auto sa_output = attention_hook_ ? attention_hook_->forward(a, x, sa_layer_norm) : sa_layer_norm(a + x);
  auto f = ffn->forward(sa_output);
  return output_hook_ ? output_hook_->forward(f, sa_output, output_layer_norm) : output_layer_norm(f + sa_output);
}

void TransformerBlockImpl::set_residual_hook(ResidualSite site, const std::string& name,
                                             std::shared_ptr<ResidualHookImpl> hook) {
  auto& slot = site == ResidualSite::attention ? attention_hook_ : output_hook_;
  const char* where = site == ResidualSite::attention ? "TransformerBlock attention residual"
                                                      : "TransformerBlock output residual";
  if (!hook) throw ConfigError("no hook given", where, "a ResidualHookImpl");
  if (slot) throw ConfigError("the site already has a hook", where, "one hook per site");
  slot = register_module(name, std::move(hook));
}

std::shared_ptr<ResidualHookImpl> TransformerBlockImpl::residual_hook(ResidualSite site) const {
  return site == ResidualSite::attention ? attention_hook_ : output_hook_;
}

TransformerImpl::TransformerImpl(const DistilBertConfig& c)
    : layer(register_module("layer", torch::nn::ModuleList())) {
  for (std::int64_t i = 0; i < c.n_layers; ++i) layer->push_back(TransformerBlock(c));
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& x, const torch::Tensor& attention_mask,
                                       std::vector<torch::Tensor>* hidden_states) {
  auto hidden = x;
  for (const auto& block : *layer) {
    if (hidden_states) hidden_states->push_back(hidden);
    hidden = block->as<TransformerBlockImpl>()->forward(hidden, attention_mask);
  }
  if (hidden_states) hidden_states->push_back(hidden);
  return hidden;
}

DistilBertModelImpl::DistilBertModelImpl(const DistilBertConfig& c)
    : config(validated(c)),
      embeddings(register_module("embeddings", Embeddings(c))),
      transformer(register_module("transformer", Transformer(c))) {
  ensure_threads_configured();
}

DistilBertOutput DistilBertModelImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                              bool output_hidden_states) {
  const std::int64_t nv = embeddings->num_virtual_tokens();
  auto [ids, mask] = check_inputs(config, input_ids, attention_mask, nv);
  // Virtual tokens are never padding: every row attends to them (mask 1).
  if (nv > 0) mask = torch::cat({torch::ones({mask.size(0), nv}, mask.options()), mask}, 1);
  DistilBertOutput out;
  auto h = embeddings->forward(ids);
  out.last_hidden_state =
      transformer->forward(h, mask, output_hidden_states ? &out.hidden_states : nullptr);
  return out;
}

// ----- task heads ---------------------------------------------------------------------------

DistilBertForSequenceClassificationImpl::DistilBertForSequenceClassificationImpl(const DistilBertConfig& c,
                                                                                 std::uint64_t seed)
    : config(validated(c)),
      distilbert(register_module("distilbert", DistilBertModel(c))),
      pre_classifier(register_linear("pre_classifier", pre_classifier, dense(c.dim, c.dim))),
      classifier(register_linear("classifier", classifier, dense(c.dim, c.num_labels()))),
      dropout(register_module("dropout", torch::nn::Dropout(c.seq_classif_dropout))) {
  init_weights(*this, config, seed);
}

torch::Tensor DistilBertForSequenceClassificationImpl::classify(const torch::Tensor& last_hidden_state) {
  // DistilBertForSequenceClassification.forward: pooled_output = hidden_state[:, 0].
  auto pooled = last_hidden_state.select(1, 0);
  pooled = torch::relu(pre_classifier->forward(pooled));
  return classifier->forward(dropout(pooled));
}

torch::Tensor DistilBertForSequenceClassificationImpl::forward(const torch::Tensor& input_ids,
                                                               const torch::Tensor& attention_mask) {
  return classify(distilbert->forward(input_ids, attention_mask).last_hidden_state);
}

SequenceClassifierOutput DistilBertForSequenceClassificationImpl::forward_with_states(
    const torch::Tensor& input_ids, const torch::Tensor& attention_mask, bool output_hidden_states) {
  auto enc = distilbert->forward(input_ids, attention_mask, output_hidden_states);
  return {classify(enc.last_hidden_state), enc.last_hidden_state, std::move(enc.hidden_states)};
}

VocabProjectorImpl::VocabProjectorImpl(torch::nn::Embedding tied, std::int64_t dim, std::int64_t vocab_size,
                                       bool tie)
    : bias(register_parameter("bias", torch::zeros({vocab_size}))), embedding_(std::move(tied)) {
  if (!tie) own_weight_ = register_parameter("weight", torch::zeros({vocab_size, dim}));
}

torch::Tensor VocabProjectorImpl::weight() const {
  return own_weight_.defined() ? own_weight_ : embedding_->weight;
}

torch::Tensor VocabProjectorImpl::forward(const torch::Tensor& x) { return torch::linear(x, weight(), bias); }

DistilBertForMaskedLMImpl::DistilBertForMaskedLMImpl(const DistilBertConfig& c, std::uint64_t seed)
    : config(validated(c)),
      distilbert(register_module("distilbert", DistilBertModel(c))),
      vocab_transform(register_linear("vocab_transform", vocab_transform, dense(c.dim, c.dim))),
      vocab_layer_norm(register_module("vocab_layer_norm", make_layer_norm(c.dim))),
      vocab_projector(register_module(
          "vocab_projector",
          VocabProjector(distilbert->embeddings->word_embeddings, c.dim, c.vocab_size, c.tie_word_embeddings))),
      activation(make_activation(c.activation)) {
  init_weights(*this, config, seed);
}

torch::Tensor DistilBertForMaskedLMImpl::predict(const torch::Tensor& hidden) {
  // DistilBertForMaskedLM.forward: transform, activation, LayerNorm, projector.
  auto x = activation(vocab_transform->forward(hidden));
  return vocab_projector(vocab_layer_norm(x));
}

torch::Tensor DistilBertForMaskedLMImpl::forward(const torch::Tensor& input_ids,
                                                 const torch::Tensor& attention_mask) {
  return predict(distilbert->forward(input_ids, attention_mask).last_hidden_state);
}

MaskedLMOutput DistilBertForMaskedLMImpl::forward_with_states(const torch::Tensor& input_ids,
                                                              const torch::Tensor& attention_mask,
                                                              bool output_hidden_states) {
  auto enc = distilbert->forward(input_ids, attention_mask, output_hidden_states);
  return {predict(enc.last_hidden_state), enc.last_hidden_state, std::move(enc.hidden_states)};
}

torch::Tensor DistilBertForMaskedLMImpl::forward_selected(const torch::Tensor& input_ids,
                                                          const torch::Tensor& attention_mask,
                                                          const torch::Tensor& selected) {
  if (!selected.defined() || selected.sizes() != input_ids.sizes())
    throw ConfigError("selected positions must have the shape of input_ids", "DistilBertForMaskedLM",
                      "a [batch, length] bool tensor");
  auto hidden = distilbert->forward(input_ids, attention_mask).last_hidden_state;
  // `selected` indexes the input tokens: the states of virtual tokens in front are skipped.
  hidden = hidden.slice(1, distilbert->embeddings->num_virtual_tokens());
  // Every op of the head is per position, so selecting first gives the same rows.
  return predict(hidden.index({selected.to(torch::kBool)}));
}

// ----- initialisation and accounting --------------------------------------------------------

void init_weights(torch::nn::Module& module, const DistilBertConfig& config, std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const double std = config.initializer_range;
  // Draw on the CPU with our generator, then copy: the same weights on every device.
  auto normal = [&](torch::Tensor& p) {
    p.copy_(torch::empty(p.sizes(), torch::kFloat).normal_(0.0, std, gen));
  };
  auto visit = [&](torch::nn::Module& m) {
    // DistilBertPreTrainedModel._init_weights, case by case.
    if (auto* linear = dynamic_cast<DenseImpl*>(&m)) {
      normal(linear->weight);
      linear->bias.zero_();
    } else if (auto* emb = dynamic_cast<torch::nn::EmbeddingImpl*>(&m)) {
      normal(emb->weight);
      if (auto pad = emb->options.padding_idx()) emb->weight[*pad].zero_();
    } else if (auto* ln = dynamic_cast<torch::nn::LayerNormImpl*>(&m)) {
      ln->weight.fill_(1.0);
      ln->bias.zero_();
    } else if (auto* proj = dynamic_cast<VocabProjectorImpl*>(&m)) {
      // An nn.Linear in HF; its weight is re-tied to the embeddings after _init_weights
      // (PreTrainedModel.init_weights calls tie_weights()), so only an untied one is drawn.
      if (!proj->tied()) {
        auto w = proj->weight();
        normal(w);
      }
      proj->bias.zero_();
    }
  };
  visit(module);
  for (const auto& child : module.modules(/*include_self=*/false)) visit(*child);
  // The Embeddings case comes last in HF's apply() order (children first), so the sinusoidal
  // table overwrites the normal draw of position_embeddings.
  if (config.sinusoidal_pos_embds) {
    std::vector<EmbeddingsImpl*> all;
    if (auto* e = dynamic_cast<EmbeddingsImpl*>(&module)) all.push_back(e);
    for (const auto& child : module.modules(false))
      if (auto* e = dynamic_cast<EmbeddingsImpl*>(child.get())) all.push_back(e);
    for (auto* e : all) {
      auto& w = e->position_embeddings->weight;
      w.copy_(sinusoidal_position_table(w.size(0), w.size(1)));
      w.set_requires_grad(false);
    }
  }
}

std::int64_t count_parameters(const torch::nn::Module& module, bool trainable_only) {
  std::set<const void*> seen;
  std::int64_t n = 0;
  for (const auto& p : module.parameters()) {
    if (!seen.insert(p.unsafeGetTensorImpl()).second) continue;
    if (trainable_only && !p.requires_grad()) continue;
    n += p.numel();
  }
  return n;
}

}  // namespace loraft::model
