#include "loraft/train/experiment.h"

#include <iostream>

#include "loraft/core/hash.h"
#include "loraft/data/source.h"
#include "loraft/data/token_cache.h"
#include "loraft/model/pretrained.h"
#include "loraft/text/bert_tokenizer.h"

namespace loraft::train {
namespace {

data::Dataset read(const std::string& spec, const Experiment& e, std::int64_t limit,
                   const char* where) {
  auto s = data::parse_dataset_spec(spec, where);
  s.table.text_columns = {e.text_column};
  s.table.label_column = e.label_column;
  return data::subset(data::read_dataset(s), limit, e.train.seed);
}

io::Json dataset_identity(const data::Dataset& d) {
  return io::Json{{"name", d.name}, {"source_sha256", d.source_sha256},
                  {"content_sha256", d.content_sha256()}, {"rows", d.size()}};
}

}  // namespace

RunResult run_experiment(const Experiment& e, const RunOptions& options,
                         const std::filesystem::path& cache_folder, bool verbose) {
  e.train.validate();
  verbose = verbose && (options.group == nullptr || options.group->lead());  // one rank reports
  const auto vocab = e.vocab.empty() ? e.model / "vocab.txt" : e.vocab;
  auto tokenizer = text::BertTokenizer::from_file(vocab);
  auto train_set = read(e.train_data, e, e.train_limit, "train data");
  auto eval_set = read(e.eval_data, e, e.eval_limit, "eval data");

  data::TokenCacheOptions cache;
  cache.folder = cache_folder;
  cache.max_length = static_cast<int>(e.train.max_length);
  cache.progress = options.progress;
  auto train_rows = data::load_or_build(train_set, tokenizer, cache);
  auto eval_rows = data::load_or_build(eval_set, tokenizer, cache);
  if (verbose)
    std::cerr << "data: " << train_set.name << " " << train_rows.rows.size() << " rows ("
              << (train_rows.hit ? "cached" : "tokenised") << "), " << eval_set.name << " "
              << eval_rows.rows.size() << " rows\n";

  model::LoadOptions load;
  load.allow_missing_head = true;
  load.seed = e.train.seed;
  load.num_labels = e.num_labels > 0 ? e.num_labels
                                     : static_cast<std::int64_t>(train_set.label_names.size());
  auto model = model::load_sequence_classification(e.model, load);  // logs what it did not load

  io::Json identity{{"model", {{"config_sha256", sha256_file(e.model / "config.json")},
                               {"weights_sha256", sha256_file(e.model / "model.safetensors")},
                               {"num_labels", model->config.num_labels()}}},
                    {"tokenizer", sha256_hex(tokenizer.fingerprint())},
                    {"train", dataset_identity(train_set)},
                    {"eval", dataset_identity(eval_set)}};
  Trainer trainer(model, train_rows.rows, eval_rows.rows, e.train, identity, options);
  if (e.train.method == Method::prompt && e.train.prompt.prompt_tuning_init == adapter::PromptInit::text) {
    // peft/tuners/prompt_tuning/model.py (0.13.2) PromptEmbedding: tokenizer(init_text)["input_ids"],
    // special tokens included, neither cut nor padded here (apply_prompt_tuning cuts or repeats).
    std::vector<std::int64_t> ids{tokenizer.cls_id()};
    for (std::int32_t id : tokenizer.token_ids(e.train.prompt.prompt_tuning_init_text)) ids.push_back(id);
    ids.push_back(tokenizer.sep_id());
    trainer.set_prompt_init_ids(std::move(ids));
  }
  return trainer.run();
}

}  // namespace loraft::train
