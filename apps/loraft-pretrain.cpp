// loraft-pretrain: masked-language-model pretraining of a DistilBERT from scratch (or from a
// checkpoint) on training splits, as transformers' run_mlm.py does: texts tokenised through
// the token cache, grouped into blocks, 5% of each source held out, 15% masking; recorded in
// a run folder; the result written as a Hugging Face folder (config.json, model.safetensors,
// vocab.txt).
#include <iostream>
#include <optional>

#include "common/app.h"
#include "common/run_flags.h"
#include "loraft/core/hash.h"
#include "loraft/core/threads.h"
#include "loraft/data/source.h"
#include "loraft/data/token_cache.h"
#include "loraft/io/file.h"
#include "loraft/model/pretrained.h"
#include "loraft/text/bert_tokenizer.h"
#include "loraft/train/pretrainer.h"

namespace {

using loraft::io::Json;
namespace fs = std::filesystem;

struct Flags {
  std::vector<std::string> corpus;
  std::string vocab = "data/vocab/bert-base-uncased/vocab.txt";
  std::string init, out, dtype = "float32";
  std::int64_t layers = 2, dim = 128, heads = 2, hidden_dim = 512, max_positions = 128;
  double dropout = 0.1;
  loraft::train::MlmDataOptions data;
  loraft::train::PretrainConfig train;
  loraft::app::RunFlags run;
  std::optional<loraft::app::SettingFlags> settings;

  void declare(loraft::app::Options& o) {
    o.multiple("corpus", corpus,
               "training splits, repeatable: imdb:<root>:train, ag_news:<train.csv>, csv:/tsv:/jsonl:<file> "
               "(test splits are refused)");
    o.optional("vocab", vocab, "WordPiece vocab.txt (its size is the model's vocabulary)");
    o.optional("init", init, "start from this MLM checkpoint folder instead of a fresh model");
    o.optional("layers", layers, "transformer blocks (fresh model)");
    o.optional("dim", dim, "hidden size (fresh model)");
    o.optional("heads", heads, "attention heads (fresh model)");
    o.optional("hidden-dim", hidden_dim, "feed-forward size (fresh model)");
    o.optional("max-positions", max_positions, "max_position_embeddings (fresh model)");
    o.optional("dropout", dropout, "dropout and attention_dropout (fresh model)");
    o.optional("block-size", data.block_size, "tokens per block (run_mlm max_seq_length)");
    o.optional("map-batch-size", data.map_batch_size, "texts grouped at a time (datasets.map batch; 0: all)");
    o.flag("line-by-line", data.line_by_line,
           "one block per text, [CLS] first, truncated and padded (run_mlm --line_by_line)");
    o.optional("validation-percent", data.validation_percent, "share of each source held out (its first rows)");
    settings.emplace(o);
    loraft::train::PretrainConfig::fields(train, *settings);
    o.optional("out", out, "write the result here: config.json, model.safetensors, vocab.txt");
    o.optional("dtype", dtype, "weights in --out: float32 or float16");
    run.declare(o);
  }
};

int pretrain_main(Flags& f) {
  f.settings->apply();
  loraft::configure_threads(f.run.threads);
  if (f.corpus.empty()) throw loraft::ConfigError("no corpus given", "--corpus", "at least one training split");
  if (f.dtype != "float32" && f.dtype != "float16")
    throw loraft::ConfigError("unknown dtype \"" + f.dtype + "\"", "--dtype", "float32 or float16");
  auto tokenizer = loraft::text::BertTokenizer::from_file(f.vocab);
  f.train.masking.mask_token_id = tokenizer.mask_id();
  f.train.masking.vocab_size = static_cast<std::int64_t>(tokenizer.vocab().size());

  const fs::path cache_folder = f.run.cache_folder();
  loraft::train::MlmBlocks train, heldout;
  train.block_size = heldout.block_size = f.data.block_size;
  std::vector<loraft::train::MlmBlocks> heldout_of_source;
  Json sources = Json::array();
  for (const std::string& spec : f.corpus) {
    auto source = loraft::train::prepare_mlm_source(spec, tokenizer, cache_folder, f.data, "--corpus");
    std::cerr << "corpus: " << source.identity["name"].get<std::string>() << " "
              << source.identity["texts"] << " texts, " << source.identity["tokens"] << " tokens ("
              << (source.cached ? "cached" : "tokenised") << "): " << source.train.size()
              << " training and " << source.heldout.size() << " held-out blocks\n";
    train.append(source.train);
    heldout.append(source.heldout);
    heldout_of_source.push_back(source.heldout);
    sources.push_back(source.identity);
  }

  loraft::model::DistilBertForMaskedLM model{nullptr};
  Json model_identity;
  if (!f.init.empty()) {
    model = loraft::model::load_masked_lm(f.init);
    model_identity = Json{{"init", {{"config_sha256", loraft::sha256_file(fs::path(f.init) / "config.json")},
                                    {"weights_sha256", loraft::sha256_file(fs::path(f.init) / "model.safetensors")}}}};
  } else {
    loraft::model::DistilBertConfig config;
    config.vocab_size = f.train.masking.vocab_size;
    config.n_layers = f.layers;
    config.dim = f.dim;
    config.n_heads = f.heads;
    config.hidden_dim = f.hidden_dim;
    config.max_position_embeddings = f.max_positions;
    config.dropout = config.attention_dropout = f.dropout;
    config.pad_token_id = tokenizer.pad_id();
    config.validate("model flags");
    model = loraft::model::DistilBertForMaskedLM(config, f.train.seed);
    model_identity = Json{{"init", "fresh"}};
  }
  Json identity{{"model", model_identity},
                {"tokenizer", loraft::sha256_hex(tokenizer.fingerprint())},
                {"corpus", sources},
                {"validation_percent", f.data.validation_percent},
                {"map_batch_size", f.data.map_batch_size},
                {"line_by_line", f.data.line_by_line}};
  const loraft::train::RunOptions run = f.run.run_options();
  loraft::train::Pretrainer pretrainer(model, train, heldout, f.train, identity, run);
  auto result = pretrainer.run();
  const Json& last = result.summary["final"];
  Json report{{"run_dir", result.run_dir.string()},
              {"reused", result.reused},
              {"eval_loss", last.value("eval_loss", 0.0)},
              {"eval_perplexity", last.value("eval_perplexity", 0.0)},
              {"unigram_perplexity", result.summary["unigram_baseline"]["perplexity"]},
              {"steps", result.summary["steps"]},
              {"train_time_s", result.summary["train_time_s"]},
              {"train_steps_per_s", result.summary["train_steps_per_s"]},
              {"total_parameters", result.summary["total_parameters"]}};
  if (!f.out.empty()) {
    // The folder's own numbers: reloaded as a user would load it, on the same held-out masking.
    auto trained = loraft::model::load_masked_lm(result.run_dir / "final");
    const fs::path out(f.out);
    loraft::train::save_masked_lm(out, trained, f.dtype == "float16" ? torch::kFloat16 : torch::kFloat32);
    loraft::io::write_file_atomic(out / "vocab.txt", loraft::io::read_file(f.vocab));
    auto reloaded = loraft::model::load_masked_lm(out);
    const auto eval_seed = result.summary["eval_seed"].get<std::uint64_t>();
    auto ev = loraft::train::evaluate_mlm(reloaded, heldout, f.train.eval_batch_size, f.train.masking,
                                          eval_seed);
    report["out"] = out.string();
    report["out_eval_loss"] = ev.loss;
    report["out_eval_perplexity"] = ev.perplexity;
    // Each source's held-out blocks evaluated alone (block indices from 0), so that anyone
    // with that source can check the folder: it is how tests check the shipped model on the
    // AG News sample it was pretrained with.
    Json per_source = Json::array();
    for (std::size_t i = 0; i < sources.size(); ++i) {
      auto e = loraft::train::evaluate_mlm(reloaded, heldout_of_source[i], f.train.eval_batch_size,
                                           f.train.masking, eval_seed);
      per_source.push_back(Json{{"name", sources[i]["name"]},
                                {"heldout_blocks", e.blocks},
                                {"masked_tokens", e.masked_tokens},
                                {"eval_loss", e.loss}});
    }
    Json record{{"run", result.run_dir.filename().string()},
                {"run_config", pretrainer.run_config()},
                {"dtype", f.dtype},
                {"threads", loraft::num_threads()},
                {"steps", result.summary["steps"]},
                {"train_time_s", result.summary["train_time_s"]},
                {"eval_seed", eval_seed},
                {"heldout", {{"eval_loss", ev.loss},
                             {"eval_perplexity", ev.perplexity},
                             {"masked_tokens", ev.masked_tokens},
                             {"unigram_perplexity", result.summary["unigram_baseline"]["perplexity"]}}},
                {"heldout_per_source", per_source}};
    loraft::io::write_file_atomic(out / "pretraining.json", record.dump(2) + "\n");
  }
  std::cout << report.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return loraft::app::run<Flags>(argc, argv, "loraft-pretrain",
                                 "Pretrains a DistilBERT masked language model on training splits "
                                 "(run_mlm.py semantics) and records the run.",
                                 pretrain_main);
}
