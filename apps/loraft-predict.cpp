// loraft-predict: runs a DistilBERT checkpoint folder on a batch and writes its outputs.
//
//   loraft-predict --model DIR --input inputs.safetensors --output out.safetensors
//   loraft-predict --model DIR --input texts.jsonl --output predictions.jsonl
//
// The head comes from config.json's `architectures`: DistilBertForMaskedLM gives `mlm_logits`
// [B, T, vocab], anything else the classifier's `logits` [B, num_labels].
#include <charconv>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "common/app.h"
#include "loraft/adapter/adapters.h"
#include "loraft/adapter/peft_io.h"
#include "loraft/adapter/prompt_tuning.h"
#include "loraft/core/error.h"
#include "loraft/core/log.h"
#include "loraft/core/threads.h"
#include "loraft/io/file.h"
#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"
#include "loraft/model/pretrained.h"
#include "loraft/text/bert_tokenizer.h"

namespace fs = std::filesystem;
using namespace loraft;

namespace {

struct Flags {
  std::string model;
  std::string adapter;
  std::string input;
  std::string output;
  int max_length = 0;
  int batch_size = 32;
  int threads = 0;
  bool hidden_states = false;

  void declare(app::Options& o) {
    o.required("model", model, "Hugging Face checkpoint folder (config.json, model.safetensors; vocab.txt for text input)");
    o.optional("adapter", adapter,
               "PEFT adapter folder to apply: LoRA, DoRA, IA3 or prompt tuning (adapter_config.json + "
               "adapter_model.safetensors)");
    o.required("input", input,
               "inputs: .safetensors with input_ids (and attention_mask), int64 [B, T]; or .jsonl, one "
               "{\"text\": ...} per line");
    o.required("output", output,
               "outputs: .safetensors (logits or mlm_logits, float32) or .jsonl (one object per input row)");
    o.optional("max-length", max_length,
               "tokens per text, [CLS] and [SEP] included (text input; 0: the model's max_position_embeddings, "
               "less a prompt-tuning adapter's virtual tokens)",
               0, 1 << 20);
    o.optional("batch-size", batch_size, "rows per forward pass", 1, 1 << 20);
    o.optional("threads", threads, "LibTorch threads (0: LORAFT_NUM_THREADS or every core)", 0, 1024);
    o.flag("hidden-states", hidden_states,
           "also write last_hidden_state and hidden_states.<i> (.safetensors output only)");
  }
};

bool has_extension(const std::string& path, const std::string& ext) {
  return fs::path(path).extension() == ext;
}

struct Inputs {
  torch::Tensor input_ids, attention_mask;  // int64 [B, T]
};

Inputs read_safetensors_inputs(const fs::path& path) {
  auto tensors = io::load_safetensors(path);
  auto ids = tensors.find("input_ids");
  if (ids == tensors.end())
    throw FormatError("no tensor \"input_ids\"", path.string(), "input_ids (and attention_mask), int64 [B, T]");
  Inputs in;
  in.input_ids = ids->second;
  auto mask = tensors.find("attention_mask");
  in.attention_mask = mask != tensors.end() ? mask->second : torch::ones_like(in.input_ids);
  for (auto* t : {&in.input_ids, &in.attention_mask}) {
    if (t->dim() != 2 || !(t->scalar_type() == torch::kLong || t->scalar_type() == torch::kInt))
      throw FormatError("input_ids and attention_mask must be integer [B, T] tensors", path.string(),
                        "int64 (or int32) tensors of rank 2");
    *t = t->to(torch::kLong);
  }
  if (in.attention_mask.sizes() != in.input_ids.sizes())
    throw FormatError("attention_mask and input_ids differ in shape", path.string(), "the same [B, T]");
  return in;
}

Inputs read_text_inputs(const fs::path& path, const fs::path& model_dir, int max_length) {
  const fs::path vocab = model_dir / "vocab.txt";
  if (!fs::exists(vocab))
    throw IoError("text input needs the model's vocab.txt", vocab.string(), "vocab.txt next to config.json");
  auto tokenizer = text::BertTokenizer::from_file(vocab);
  std::vector<std::string> texts;
  io::for_each_json_line(path, [&](const io::Json& j, long long line) {
    const std::string where = at_line(path.string(), line);
    if (!j.is_object()) throw FormatError("line is not a JSON object", where, "{\"text\": ...}");
    texts.push_back(io::get_field<std::string>(j, "text", where));
  });
  auto encodings = tokenizer.encode_batch(texts, max_length, /*truncation=*/true, text::Padding::max_length);
  const auto rows = static_cast<std::int64_t>(encodings.size());
  Inputs in{torch::zeros({rows, max_length}, torch::kLong), torch::zeros({rows, max_length}, torch::kLong)};
  auto ids = in.input_ids.accessor<std::int64_t, 2>();
  auto mask = in.attention_mask.accessor<std::int64_t, 2>();
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t t = 0; t < max_length; ++t) {
      ids[r][t] = encodings[r].input_ids[t];
      mask[r][t] = encodings[r].attention_mask[t];
    }
  return in;
}

// A float32 as the shortest decimal that reads back to it (so 0.1f is written 0.1, not
// 0.10000000149011612).
io::Json short_number(float v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return io::Json(std::stod(std::string(buf, res.ptr)));
}

struct Outputs {
  std::string name;                          // "logits" or "mlm_logits"
  std::vector<torch::Tensor> logits;          // per batch
  std::vector<torch::Tensor> last_hidden;     // per batch
  std::vector<std::vector<torch::Tensor>> hidden;  // per batch, per layer
};

void write_safetensors_outputs(const fs::path& path, const Outputs& out, bool hidden_states,
                               const std::vector<std::int64_t>& empty_shape) {
  io::NamedTensors named;
  named.emplace_back(out.name, out.logits.empty() ? torch::zeros(empty_shape) : torch::cat(out.logits, 0));
  if (hidden_states && !out.last_hidden.empty()) {
    named.emplace_back("last_hidden_state", torch::cat(out.last_hidden, 0));
    for (std::size_t i = 0; i < out.hidden.front().size(); ++i) {
      std::vector<torch::Tensor> parts;
      for (const auto& b : out.hidden) parts.push_back(b[i]);
      named.emplace_back("hidden_states." + std::to_string(i), torch::cat(parts, 0));
    }
  }
  io::save_safetensors(path, named);
}

void write_jsonl_outputs(const fs::path& path, const Outputs& out, const Inputs& in,
                         const model::DistilBertConfig& config) {
  std::string text;
  std::int64_t row = 0;
  for (const auto& batch : out.logits) {
    for (std::int64_t r = 0; r < batch.size(0); ++r, ++row) {
      io::Json j = io::Json::object();
      if (out.name == "logits") {
        auto logits = batch[r].contiguous();
        io::Json values = io::Json::array();
        for (std::int64_t k = 0; k < logits.size(0); ++k) values.push_back(short_number(logits[k].item<float>()));
        const auto label = logits.argmax().item<std::int64_t>();
        j["logits"] = values;
        j["label_id"] = label;
        j["label"] = config.id2label.at(static_cast<std::size_t>(label));
      } else {
        // Full MLM logits per row would be vocab-sized per token: JSON lines get the
        // arg-max token id of every unpadded position.
        auto best = batch[r].argmax(-1);
        io::Json ids = io::Json::array();
        for (std::int64_t t = 0; t < best.size(0); ++t)
          if (in.attention_mask[row][t].item<std::int64_t>() != 0) ids.push_back(best[t].item<std::int64_t>());
        j["predicted_ids"] = ids;
      }
      text += j.dump() + "\n";
    }
  }
  io::write_file_atomic(path, text);
}

int predict(Flags& f) {
  if (f.batch_size <= 0) throw ConfigError("--batch-size must be positive", "--batch-size", "a positive integer");
  const bool text_in = has_extension(f.input, ".jsonl");
  if (!text_in && !has_extension(f.input, ".safetensors"))
    throw ConfigError("unknown input type", f.input, "a .safetensors or .jsonl file");
  const bool jsonl_out = has_extension(f.output, ".jsonl");
  if (!jsonl_out && !has_extension(f.output, ".safetensors"))
    throw ConfigError("unknown output type", f.output, "a .safetensors or .jsonl file");
  if (jsonl_out && f.hidden_states)
    throw ConfigError("--hidden-states needs a .safetensors output", f.output, "a .safetensors output");
  configure_threads(f.threads);

  const fs::path model_dir = f.model;
  const auto config = model::load_config(model_dir);
  bool mlm = false;
  const auto architectures = io::read_json(model_dir / model::kConfigFile).value("architectures", io::Json::array());
  if (architectures.is_array())
    for (const auto& a : architectures) mlm |= a == "DistilBertForMaskedLM";
  // A prompt-tuning adapter's virtual tokens take the first positions (PEFT passes no position
  // ids), so texts are cut that much shorter by default.
  std::int64_t virtual_tokens = 0;
  if (!f.adapter.empty() && adapter::read_peft_type(f.adapter) == "PROMPT_TUNING")
    virtual_tokens = adapter::read_prompt_adapter_config(f.adapter).num_virtual_tokens;
  if (virtual_tokens > config.max_position_embeddings - 2)
    throw ConfigError(std::to_string(virtual_tokens) + " virtual tokens leave no room for text in " +
                          std::to_string(config.max_position_embeddings) + " positions",
                      "--adapter " + f.adapter, "fewer virtual tokens than max_position_embeddings - 1");
  const int max_length =
      f.max_length > 0 ? f.max_length : static_cast<int>(config.max_position_embeddings - virtual_tokens);
  Inputs in = text_in ? read_text_inputs(f.input, model_dir, max_length) : read_safetensors_inputs(f.input);

  Outputs out;
  out.name = mlm ? "mlm_logits" : "logits";
  torch::NoGradGuard no_grad;
  const std::int64_t rows = in.input_ids.size(0);
  auto run_batches = [&](auto& model, auto&& forward) {
    model->eval();
    for (std::int64_t start = 0; start < rows; start += f.batch_size) {
      const auto end = std::min<std::int64_t>(rows, start + f.batch_size);
      auto ids = in.input_ids.slice(0, start, end);
      auto mask = in.attention_mask.slice(0, start, end);
      auto r = forward(model, ids, mask);
      out.logits.push_back(r.logits);
      if (f.hidden_states) {
        out.last_hidden.push_back(r.last_hidden_state);
        out.hidden.push_back(r.hidden_states);
      }
    }
  };
  std::vector<std::int64_t> empty_shape = {0, config.num_labels()};
  if (mlm) {
    if (!f.adapter.empty())
      throw ConfigError("--adapter needs a sequence-classification model", "--adapter " + f.adapter,
                        "a DistilBertForSequenceClassification checkpoint");
    auto model = model::load_masked_lm(model_dir);
    run_batches(model, [&](auto& m, auto& ids, auto& mask) { return m->forward_with_states(ids, mask, f.hidden_states); });
    empty_shape = {0, in.input_ids.size(1), config.vocab_size};
  } else {
    auto model = model::load_sequence_classification(model_dir);
    if (!f.adapter.empty()) log_info("loraft-predict: " + adapter::load_any_adapter(f.adapter, *model).description);
    run_batches(model, [&](auto& m, auto& ids, auto& mask) { return m->forward_with_states(ids, mask, f.hidden_states); });
  }
  if (jsonl_out) {
    write_jsonl_outputs(f.output, out, in, config);
  } else {
    write_safetensors_outputs(f.output, out, f.hidden_states, empty_shape);
  }
  log_info("loraft-predict: " + std::to_string(rows) + " rows -> " + f.output);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return app::run<Flags>(argc, argv, "loraft-predict",
                         "Runs a DistilBERT checkpoint (sequence classification or masked LM) on token ids or "
                         "texts and writes its logits.",
                         predict);
}
