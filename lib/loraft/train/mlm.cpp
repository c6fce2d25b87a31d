#include "loraft/train/mlm.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "loraft/core/error.h"
#include "loraft/core/hash.h"
#include "loraft/data/source.h"

namespace loraft::train {

void MlmBlocks::append(const MlmBlocks& other) {
  if (other.block_size != block_size)
    throw ConfigError("blocks of " + std::to_string(other.block_size) + " tokens appended to blocks of " +
                          std::to_string(block_size),
                      "MlmBlocks::append", "one block size");
  ids.insert(ids.end(), other.ids.begin(), other.ids.end());
  special.insert(special.end(), other.special.begin(), other.special.end());
  if (!padding.empty() || !other.padding.empty()) {
    // Blocks without padding get explicit zeros once padded blocks join them.
    padding.resize(ids.size() - other.ids.size(), 0);
    if (other.padding.empty())
      padding.resize(ids.size(), 0);
    else
      padding.insert(padding.end(), other.padding.begin(), other.padding.end());
  }
}

std::size_t MlmBlocks::offset(std::int64_t block) const {
  if (block < 0 || block >= size())
    throw ConfigError("block " + std::to_string(block) + " out of range", "MlmBlocks",
                      "0.." + std::to_string(size() - 1));
  return static_cast<std::size_t>(block * block_size);
}

std::pair<torch::Tensor, torch::Tensor> MlmBlocks::tensors(const std::vector<std::int64_t>& which) const {
  const auto n = static_cast<std::int64_t>(which.size());
  torch::Tensor input_ids = torch::empty({n, block_size}, torch::kInt64);
  torch::Tensor special_mask = torch::empty({n, block_size}, torch::kBool);
  auto* out = input_ids.data_ptr<std::int64_t>();
  auto* sp = special_mask.data_ptr<bool>();
  for (std::int64_t r = 0; r < n; ++r) {
    const std::size_t from = offset(which[r]);
    for (std::int64_t t = 0; t < block_size; ++t) {
      out[r * block_size + t] = ids[from + t];
      sp[r * block_size + t] = special[from + t] != 0;
    }
  }
  return {input_ids, special_mask};
}

torch::Tensor MlmBlocks::attention_mask(const std::vector<std::int64_t>& which) const {
  const auto n = static_cast<std::int64_t>(which.size());
  torch::Tensor mask = torch::ones({n, block_size}, torch::kInt64);
  auto* out = mask.data_ptr<std::int64_t>();
  for (std::int64_t r = 0; r < n; ++r) {
    const std::size_t from = offset(which[r]);
    if (padding.empty()) continue;
    for (std::int64_t t = 0; t < block_size; ++t) out[r * block_size + t] = padding[from + t] ? 0 : 1;
  }
  return mask;
}

namespace {

// Well-formed rows that carry the [CLS] ... [SEP] of tokenize_function (at least two
// tokens each); the blocks to fill, empty.
MlmBlocks blocks_for(const data::TokenRows& rows, std::int64_t block_size, const char* where) {
  rows.validate(where);
  for (std::int64_t i = 0; i < rows.size(); ++i)
    if (rows.length(i) < 2)
      throw FormatError("row " + std::to_string(i) + " has fewer than two tokens", where,
                        "texts tokenised with [CLS] and [SEP]");
  MlmBlocks blocks;
  blocks.block_size = block_size;
  return blocks;
}

}  // namespace

MlmBlocks group_texts(const data::TokenRows& rows, std::int64_t block_size, std::int64_t map_batch_size) {
  if (block_size < 1) throw ConfigError("block size must be positive", "group_texts", ">= 1");
  MlmBlocks blocks = blocks_for(rows, block_size, "group_texts rows");
  const std::int64_t n = rows.size();
  const std::int64_t group = map_batch_size > 0 ? map_batch_size : std::max<std::int64_t>(n, 1);
  for (std::int64_t first = 0; first < n; first += group) {
    const std::int64_t last = std::min(n, first + group);
    // chain(*examples[k]) over this map batch, then whole blocks only.
    const std::int64_t begin = rows.offsets[first], end = rows.offsets[last];
    const std::int64_t total = ((end - begin) / block_size) * block_size;
    std::vector<std::uint8_t> special(static_cast<std::size_t>(end - begin), 0);
    for (std::int64_t i = first; i < last; ++i) {
      // get_special_tokens_mask(already_has_special_tokens=False) of BertTokenizer:
      // [1] + [0] * len(text ids) + [1].
      special[rows.offsets[i] - begin] = 1;
      special[rows.offsets[i + 1] - 1 - begin] = 1;
    }
    blocks.ids.insert(blocks.ids.end(), rows.ids.begin() + begin, rows.ids.begin() + begin + total);
    blocks.special.insert(blocks.special.end(), special.begin(), special.begin() + total);
  }
  return blocks;
}

MlmBlocks line_by_line(const data::TokenRows& rows, std::int64_t block_size, std::int32_t pad_id) {
  if (block_size < 2) throw ConfigError("block size must be at least 2", "line_by_line", ">= 2 ([CLS] and [SEP])");
  MlmBlocks blocks = blocks_for(rows, block_size, "line_by_line rows");
  for (std::int64_t i = 0; i < rows.size(); ++i) {
    const std::int64_t text = rows.length(i) - 2;  // tokens between [CLS] and [SEP]
    if (text == 0) continue;                        // run_mlm drops empty lines
    const std::int64_t kept = std::min(text, block_size - 2);  // truncation=True keeps the specials
    const auto* row = rows.ids.data() + rows.offsets[i];
    blocks.ids.push_back(row[0]);
    blocks.ids.insert(blocks.ids.end(), row + 1, row + 1 + kept);
    blocks.ids.push_back(row[rows.length(i) - 1]);
    blocks.special.push_back(1);
    blocks.special.insert(blocks.special.end(), static_cast<std::size_t>(kept), 0);
    blocks.special.push_back(1);
    blocks.padding.insert(blocks.padding.end(), static_cast<std::size_t>(kept + 2), 0);
    const auto pad = static_cast<std::size_t>(block_size - 2 - kept);
    blocks.ids.insert(blocks.ids.end(), pad, pad_id);
    blocks.special.insert(blocks.special.end(), pad, 1);
    blocks.padding.insert(blocks.padding.end(), pad, 1);
  }
  return blocks;
}

CorpusSplit split_validation(const data::TokenRows& rows, double percent) {
  if (!(percent >= 0.0 && percent <= 100.0))
    throw ConfigError("validation percentage " + std::to_string(percent), "split_validation", "0..100");
  const std::int64_t n = rows.size();
  // datasets' _pct_to_abs_closest: int(round(boundary * num_examples / 100.0)); nearbyint
  // rounds half to even in the default rounding mode, as Python's round does.
  const auto cut = static_cast<std::int64_t>(std::nearbyint(percent * static_cast<double>(n) / 100.0));
  CorpusSplit s;
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<std::int32_t> row(rows.ids.begin() + rows.offsets[i], rows.ids.begin() + rows.offsets[i + 1]);
    (i < cut ? s.heldout : s.train).push_back(row, rows.labels[i]);
  }
  return s;
}

void check_not_test_split(const std::string& dataset_name, const std::string& where) {
  // Dataset names are `<data set>/<split or file stem>` plus an optional `[n@seed]` subset tag.
  std::string split = dataset_name.substr(0, dataset_name.find('['));
  split = split.substr(split.rfind('/') == std::string::npos ? 0 : split.rfind('/') + 1);
  std::string lower;
  for (char c : split) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("test") != std::string::npos)
    throw ConfigError("\"" + dataset_name + "\" is a test split; pretraining must never see test rows",
                      where, "a training split (imdb:<root>:train, ag_news:<train.csv>)");
}

MlmSource prepare_mlm_source(const std::string& spec, const text::BertTokenizer& tokenizer,
                             const std::filesystem::path& cache_folder, const MlmDataOptions& options,
                             const std::string& where) {
  data::DatasetSpec source = data::parse_dataset_spec(spec, where);
  source.table.label_column.clear();  // a corpus needs text only: no label column is asked for
  auto dataset = data::read_dataset(source);
  check_not_test_split(dataset.name, where + " " + spec);
  // run_mlm's tokenize_function: tokenizer(texts, return_special_tokens_mask=True), whole.
  data::TokenCacheOptions cache;
  cache.folder = cache_folder;
  cache.truncation = false;
  cache.max_length = static_cast<int>(options.block_size);
  auto rows = data::load_or_build(dataset, tokenizer, cache);
  auto split = split_validation(rows.rows, options.validation_percent);
  auto blocks = [&](const data::TokenRows& part) {
    return options.line_by_line ? line_by_line(part, options.block_size, tokenizer.pad_id())
                                : group_texts(part, options.block_size, options.map_batch_size);
  };
  MlmSource out;
  out.train = blocks(split.train);
  out.heldout = blocks(split.heldout);
  out.cached = rows.hit;
  out.identity = io::Json{{"name", dataset.name},
                          {"source_sha256", dataset.source_sha256},
                          {"content_sha256", dataset.content_sha256()},
                          {"texts", dataset.size()},
                          {"tokens", rows.tokens()}};
  return out;
}

MaskedBatch mask_tokens(const torch::Tensor& input_ids, const torch::Tensor& special_tokens_mask,
                        const torch::Tensor& attention_mask, const MaskingOptions& options,
                        at::Generator& generator) {
  if (!(options.mlm_probability > 0.0 && options.mlm_probability < 1.0))
    throw ConfigError("mlm_probability " + std::to_string(options.mlm_probability), "MaskingOptions",
                      "in (0, 1)");
  const torch::Tensor ids = input_ids.to(torch::kInt64);
  torch::Tensor special = special_tokens_mask.to(torch::kBool);
  if (attention_mask.defined()) special = special.logical_or(attention_mask.eq(0));
  const auto shape = ids.sizes();
  torch::Tensor labels = ids.clone();
  torch::Tensor inputs = ids.clone();
  // probability_matrix = torch.full(labels.shape, self.mlm_probability) (float32)
  torch::Tensor probability = torch::full(shape, options.mlm_probability, torch::kFloat32);
  probability.masked_fill_(special, 0.0);
  torch::Tensor masked = torch::bernoulli(probability, generator).to(torch::kBool);
  labels.masked_fill_(masked.logical_not(), -100);
  // 80% of the selected positions: [MASK].
  torch::Tensor replaced =
      torch::bernoulli(torch::full(shape, 0.8, torch::kFloat32), generator).to(torch::kBool).logical_and(masked);
  inputs.masked_fill_(replaced, options.mask_token_id);
  // Half of the rest (10%): a random token over the whole vocabulary, specials included.
  torch::Tensor random = torch::bernoulli(torch::full(shape, 0.5, torch::kFloat32), generator)
                             .to(torch::kBool)
                             .logical_and(masked)
                             .logical_and(replaced.logical_not());
  torch::Tensor words = torch::randint(options.vocab_size, shape, generator, torch::kInt64);
  inputs = torch::where(random, words, inputs);
  // The last 10% stay unchanged.
  MaskedBatch b;
  b.input_ids = inputs;
  b.attention_mask = attention_mask.defined() ? attention_mask.to(torch::kInt64)
                                              : torch::ones(shape, torch::kInt64);
  b.labels = labels;
  b.special_tokens_mask = special;
  return b;
}

std::uint64_t masking_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t block) {
  return keyed_seed(seed, epoch, block);
}

MaskedBatch masked_batch(const MlmBlocks& blocks, const std::vector<std::int64_t>& which,
                         const MaskingOptions& options, std::uint64_t seed, std::int64_t epoch) {
  auto [ids, special] = blocks.tensors(which);
  const torch::Tensor attention = blocks.attention_mask(which);
  std::vector<torch::Tensor> inputs, labels, specials;
  for (std::size_t r = 0; r < which.size(); ++r) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(masking_seed(seed, epoch, which[r]));
    const auto row = static_cast<std::int64_t>(r);
    MaskedBatch one = mask_tokens(ids.slice(0, row, row + 1), special.slice(0, row, row + 1),
                                  attention.slice(0, row, row + 1), options, gen);
    inputs.push_back(one.input_ids);
    labels.push_back(one.labels);
    specials.push_back(one.special_tokens_mask);
  }
  MaskedBatch b;
  b.input_ids = which.empty() ? ids : torch::cat(inputs, 0);
  b.labels = which.empty() ? ids.clone() : torch::cat(labels, 0);
  b.attention_mask = attention;
  b.special_tokens_mask = which.empty() ? special : torch::cat(specials, 0);
  return b;
}

PretrainingLoss pretraining_loss(model::DistilBertForMaskedLM& model, const MaskedBatch& batch,
                                 double cls_bow_weight) {
  const torch::Device device = model->distilbert->embeddings->word_embeddings->weight.device();
  const torch::Tensor input_ids = batch.input_ids.to(device);
  const torch::Tensor labels = batch.labels.to(device);
  const torch::Tensor selected = labels.ne(-100);
  const torch::Tensor hidden =
      model->distilbert->forward(input_ids, batch.attention_mask.to(device)).last_hidden_state;
  PretrainingLoss out;
  // Every op of the MLM head is per position, so selecting first gives the same rows.
  torch::Tensor logits = model->predict(hidden.index({selected}));
  // DistilBertForMaskedLM.forward: mlm_loss = CrossEntropyLoss()(prediction_logits.view(-1,
  // V), labels.view(-1)), i.e. the mean over the positions whose label is not -100.
  out.mlm = logits.size(0) == 0
                ? logits.sum() * 0.0
                : torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), labels.masked_select(selected));
  out.total = out.mlm;
  if (cls_bow_weight <= 0.0) return out;
  if (!batch.special_tokens_mask.defined())
    throw ConfigError("the batch has no special tokens mask", "pretraining_loss", "a batch from mask_tokens()");
  // The text at its original ids: the label where a position was selected, else the input.
  const torch::Tensor original = torch::where(selected, labels, input_ids);
  const torch::Tensor text = batch.special_tokens_mask.to(device).logical_not().to(torch::kFloat32);
  const torch::Tensor log_p =
      torch::log_softmax(model->predict(hidden.select(1, 0)).to(torch::kFloat32), -1);  // [B, V]
  const torch::Tensor words = text.sum(1);                                              // [B]
  const torch::Tensor per_block = -(log_p.gather(1, original) * text).sum(1) / words.clamp_min(1.0);
  const torch::Tensor has_text = words.gt(0);
  out.cls_bow = has_text.any().item<bool>() ? per_block.masked_select(has_text).mean() : per_block.sum() * 0.0;
  out.total = out.mlm + cls_bow_weight * out.cls_bow;
  return out;
}

torch::Tensor mlm_loss(model::DistilBertForMaskedLM& model, const MaskedBatch& batch) {
  return pretraining_loss(model, batch, 0.0).mlm;
}

namespace {

// The result of `count` masked tokens in `blocks` blocks whose losses sum to `sum` nats.
MlmEvalResult mean_loss(double sum, std::int64_t count, std::int64_t blocks) {
  MlmEvalResult r;
  r.blocks = blocks;
  r.masked_tokens = count;
  r.loss = count > 0 ? sum / static_cast<double>(count) : 0.0;
  r.perplexity = std::exp(r.loss);
  return r;
}

}  // namespace

MlmEvalResult evaluate_mlm(model::DistilBertForMaskedLM& model, const MlmBlocks& blocks,
                           std::int64_t batch_size, const MaskingOptions& options,
                           std::uint64_t seed, const torch::Device& device) {
  if (batch_size < 1) throw ConfigError("evaluation batch size must be positive", "evaluate_mlm", ">= 1");
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  double sum = 0.0;
  std::int64_t count = 0;
  const std::int64_t n = blocks.size();
  for (std::int64_t first = 0; first < n; first += batch_size) {
    std::vector<std::int64_t> which;
    for (std::int64_t i = first; i < std::min(n, first + batch_size); ++i) which.push_back(i);
    MaskedBatch b = masked_batch(blocks, which, options, seed, 0);
    const torch::Tensor labels = b.labels.to(device);
    const torch::Tensor selected = labels.ne(-100);
    torch::Tensor logits =
        model->forward_selected(b.input_ids.to(device), b.attention_mask.to(device), selected);
    if (logits.size(0) == 0) continue;
    sum += torch::nn::functional::cross_entropy(
               logits.to(torch::kFloat32), labels.masked_select(selected),
               torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
               .item<double>();
    count += logits.size(0);
  }
  if (was_training) model->train();
  return mean_loss(sum, count, n);
}

MlmEvalResult unigram_baseline(const MlmBlocks& train, const MlmBlocks& heldout,
                               const MaskingOptions& options, std::uint64_t seed) {
  std::vector<double> counts(static_cast<std::size_t>(options.vocab_size), 1.0);  // add-one
  double total = static_cast<double>(options.vocab_size);
  for (std::size_t i = 0; i < train.ids.size(); ++i) {
    if (train.special[i]) continue;
    const std::int32_t id = train.ids[i];
    if (id < 0 || id >= options.vocab_size)
      throw FormatError("token id " + std::to_string(id) + " outside the vocabulary", "unigram_baseline",
                        "ids below " + std::to_string(options.vocab_size));
    counts[static_cast<std::size_t>(id)] += 1.0;
    total += 1.0;
  }
  double sum = 0.0;
  std::int64_t count = 0;
  const std::int64_t n = heldout.size();
  constexpr std::int64_t kChunk = 256;
  for (std::int64_t first = 0; first < n; first += kChunk) {
    std::vector<std::int64_t> which;
    for (std::int64_t i = first; i < std::min(n, first + kChunk); ++i) which.push_back(i);
    torch::Tensor labels = masked_batch(heldout, which, options, seed, 0).labels.contiguous();
    const auto* l = labels.data_ptr<std::int64_t>();
    for (std::int64_t k = 0; k < labels.numel(); ++k) {
      if (l[k] == -100) continue;
      const auto id = static_cast<std::size_t>(std::clamp<std::int64_t>(l[k], 0, options.vocab_size - 1));
      sum -= std::log(counts[id] / total);
      ++count;
    }
  }
  return mean_loss(sum, count, n);
}

}  // namespace loraft::train
