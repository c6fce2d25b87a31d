#include "loraft/model/config.h"

#include <map>
#include <set>

#include "loraft/core/error.h"
#include "loraft/io/file.h"

namespace loraft::model {
namespace {

std::string default_label(std::int64_t i) { return "LABEL_" + std::to_string(i); }

// Keys loraft interprets or regenerates; everything else in a config.json is kept in `extra`.
const std::set<std::string>& handled_keys() {
  static const std::set<std::string> keys = {
      "vocab_size", "max_position_embeddings", "sinusoidal_pos_embds", "n_layers", "n_heads",
      "dim", "hidden_dim", "dropout", "attention_dropout", "activation", "initializer_range",
      "qa_dropout", "seq_classif_dropout", "pad_token_id", "tie_word_embeddings", "id2label",
      "label2id", "num_labels", "model_type", "architectures", "torch_dtype",
      "transformers_version",
      // Not serialised by save_pretrained (to_json_string drops them).
      "_name_or_path", "_commit_hash", "_attn_implementation_autoset"};
  return keys;
}

template <typename T>
void read(const io::Json& j, const char* key, T& target, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  target = io::get_field<T>(j, key, where);
}

void read_int(const io::Json& j, const char* key, std::int64_t& target, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_number_integer())
    throw FormatError("key \"" + std::string(key) + "\" is " + it->dump(), where, "an integer");
  target = it->get<std::int64_t>();
}

void read_real(const io::Json& j, const char* key, double& target, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_number())
    throw FormatError("key \"" + std::string(key) + "\" is " + it->dump(), where, "a number");
  target = it->get<double>();
}

}  // namespace

std::string default_attn_implementation() { return sdpa_available() ? "sdpa" : "eager"; }

void DistilBertConfig::set_num_labels(std::int64_t n) {
  if (n < 1 || n > kMaxNumLabels)
    throw ConfigError("num_labels is " + std::to_string(n), "DistilBertConfig",
                      "from 1 to " + std::to_string(kMaxNumLabels));
  id2label.clear();
  for (std::int64_t i = 0; i < n; ++i) id2label.push_back(default_label(i));
}

void DistilBertConfig::validate(const std::string& where) const {
  auto positive = [&](const char* name, std::int64_t v) {
    if (v <= 0) throw ConfigError(std::string(name) + " is " + std::to_string(v), where, "a positive integer");
  };
  positive("vocab_size", vocab_size);
  positive("max_position_embeddings", max_position_embeddings);
  positive("dim", dim);
  positive("n_heads", n_heads);
  positive("hidden_dim", hidden_dim);
  if (n_layers < 0)
    throw ConfigError("n_layers is " + std::to_string(n_layers), where, "a non-negative integer");
  // MultiHeadSelfAttention.__init__ raises ValueError for the same condition.
  if (dim % n_heads != 0)
    throw ConfigError("dim " + std::to_string(dim) + " is not a multiple of n_heads " +
                          std::to_string(n_heads),
                      where, "n_heads dividing dim evenly");
  // transformers' ACT2FN knows more names, but DistilBERT checkpoints use these two; any
  // other would silently change the math, so it is refused.
  if (activation != "gelu" && activation != "relu")
    throw ConfigError("unknown activation \"" + activation + "\"", where,
                      "\"gelu\" (exact, erf-based) or \"relu\"");
  if (attn_implementation != "eager" && attn_implementation != "sdpa")
    throw ConfigError("unknown attn_implementation \"" + attn_implementation + "\"", where,
                      "\"eager\" or \"sdpa\"");
  if (attn_implementation == "sdpa" && !sdpa_available())
    throw ConfigError("attn_implementation \"sdpa\" needs LibTorch 2.x; this build has " TORCH_VERSION, where,
                      "\"eager\"");
  auto probability = [&](const char* name, double p) {
    if (!(p >= 0.0 && p <= 1.0))
      throw ConfigError(std::string(name) + " is " + std::to_string(p), where, "a probability in [0, 1]");
  };
  probability("dropout", dropout);
  probability("attention_dropout", attention_dropout);
  probability("seq_classif_dropout", seq_classif_dropout);
  probability("qa_dropout", qa_dropout);
  if (!(initializer_range >= 0.0))
    throw ConfigError("initializer_range is negative", where, "a non-negative standard deviation");
  if (pad_token_id < 0 || pad_token_id >= vocab_size)
    throw ConfigError("pad_token_id " + std::to_string(pad_token_id) + " is outside the vocabulary",
                      where, "0 <= pad_token_id < vocab_size");
  if (id2label.empty()) throw ConfigError("no labels", where, "num_labels >= 1");
}

DistilBertConfig validated(const DistilBertConfig& config) {
  config.validate();
  return config;
}

DistilBertConfig DistilBertConfig::from_json(const io::Json& j, const std::string& where) {
  if (!j.is_object()) throw FormatError("config is not a JSON object", where, "a JSON object");
  if (auto mt = j.find("model_type"); mt != j.end() && *mt != "distilbert")
    throw ConfigError("model_type is " + mt->dump(), where, "\"distilbert\"");
  DistilBertConfig c;
  read_int(j, "vocab_size", c.vocab_size, where);
  read_int(j, "max_position_embeddings", c.max_position_embeddings, where);
  read(j, "sinusoidal_pos_embds", c.sinusoidal_pos_embds, where);
  read_int(j, "n_layers", c.n_layers, where);
  read_int(j, "n_heads", c.n_heads, where);
  read_int(j, "dim", c.dim, where);
  read_int(j, "hidden_dim", c.hidden_dim, where);
  read_real(j, "dropout", c.dropout, where);
  read_real(j, "attention_dropout", c.attention_dropout, where);
  read(j, "activation", c.activation, where);
  read_real(j, "initializer_range", c.initializer_range, where);
  read_real(j, "qa_dropout", c.qa_dropout, where);
  read_real(j, "seq_classif_dropout", c.seq_classif_dropout, where);
  read_int(j, "pad_token_id", c.pad_token_id, where);
  read(j, "tie_word_embeddings", c.tie_word_embeddings, where);

  // PretrainedConfig.__init__: id2label wins (its keys are converted to int); a bare
  // num_labels makes LABEL_0 ... LABEL_{n-1}.
  if (auto it = j.find("id2label"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) throw FormatError("id2label is not an object", where, "{\"0\": \"name\", ...}");
    std::map<std::int64_t, std::string> by_index;
    for (auto e = it->begin(); e != it->end(); ++e) {
      std::size_t used = 0;
      std::int64_t idx = -1;
      try {
        idx = std::stoll(e.key(), &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != e.key().size() || idx < 0 || !e->is_string())
        throw FormatError("id2label entry \"" + e.key() + "\": " + e->dump(), where,
                          "\"<class index>\": \"<label name>\"");
      by_index[idx] = e->get<std::string>();
    }
    c.id2label.clear();
    for (const auto& [idx, name] : by_index) {
      if (idx != static_cast<std::int64_t>(c.id2label.size()))
        throw ConfigError("id2label has no entry for class " + std::to_string(c.id2label.size()),
                          where, "class indices 0 ... num_labels-1");
      c.id2label.push_back(name);
    }
    if (auto n = j.find("num_labels"); n != j.end() && n->is_number_integer() &&
                                       n->get<std::int64_t>() != c.num_labels())
      throw ConfigError("num_labels " + n->dump() + " disagrees with id2label (" +
                            std::to_string(c.num_labels()) + " entries)",
                        where, "one label count");
  } else if (auto n = j.find("num_labels"); n != j.end() && !n->is_null()) {
    std::int64_t count = 0;
    read_int(j, "num_labels", count, where);
    if (count < 1 || count > kMaxNumLabels)  // before making that many names (1e12 would hang)
      throw ConfigError("num_labels is " + std::to_string(count), where, "from 1 to " + std::to_string(kMaxNumLabels));
    c.set_num_labels(count);
  }

  for (auto it = j.begin(); it != j.end(); ++it)
    if (!handled_keys().count(it.key())) c.extra[it.key()] = it.value();
  c.validate(where);
  return c;
}

DistilBertConfig DistilBertConfig::from_file(const std::filesystem::path& path) {
  return from_json(io::read_json(path), path.string());
}

io::Json DistilBertConfig::to_json(const std::vector<std::string>& architectures) const {
  io::Json j = extra.is_object() ? extra : io::Json::object();
  j["activation"] = activation;
  j["architectures"] = architectures;
  j["attention_dropout"] = attention_dropout;
  j["dim"] = dim;
  j["dropout"] = dropout;
  j["hidden_dim"] = hidden_dim;
  j["initializer_range"] = initializer_range;
  j["max_position_embeddings"] = max_position_embeddings;
  j["model_type"] = "distilbert";
  j["n_heads"] = n_heads;
  j["n_layers"] = n_layers;
  j["pad_token_id"] = pad_token_id;
  j["qa_dropout"] = qa_dropout;
  j["seq_classif_dropout"] = seq_classif_dropout;
  j["sinusoidal_pos_embds"] = sinusoidal_pos_embds;
  j["torch_dtype"] = "float32";
  j["transformers_version"] = kReferenceTransformersVersion;
  j["vocab_size"] = vocab_size;
  // to_diff_dict writes PretrainedConfig attributes only when they differ from
  // PretrainedConfig()'s defaults: id2label/label2id for two LABEL_i labels, and
  // tie_word_embeddings=True, are left out.
  const bool default_labels = id2label == std::vector<std::string>{"LABEL_0", "LABEL_1"};
  if (!default_labels) {
    io::Json id2 = io::Json::object(), l2i = io::Json::object();
    for (std::size_t i = 0; i < id2label.size(); ++i) {
      id2[std::to_string(i)] = id2label[i];
      l2i[id2label[i]] = static_cast<std::int64_t>(i);
    }
    j["id2label"] = id2;
    j["label2id"] = l2i;
  }
  if (!tie_word_embeddings) j["tie_word_embeddings"] = false;
  return j;
}

void DistilBertConfig::save(const std::filesystem::path& path,
                            const std::vector<std::string>& architectures) const {
  // json.dumps(indent=2, sort_keys=True) (ensure_ascii) + "\n", as
  // PretrainedConfig.to_json_string writes; nlohmann's object keeps its keys sorted.
  io::write_file_atomic(path, to_json(architectures).dump(2, ' ', true) + "\n");
}

}  // namespace loraft::model
