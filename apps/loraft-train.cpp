// loraft-train: one fine-tuning run (full fine-tuning or one of the adapter methods) from the
// command line or a JSON config file, recorded in a run folder named by the hash of its
// resolved configuration.
#include <iostream>
#include <optional>

#include "common/app.h"
#include "common/run_flags.h"
#include "loraft/core/log.h"
#include "loraft/core/threads.h"
#include "loraft/train/experiment.h"

namespace {

using loraft::io::Json;

// The flags fill an Experiment directly: the training settings through TrainConfig::fields(),
// which declares each one's flag once.
struct Flags {
  Flags(loraft::train::TrainConfig base, Json file) : file_settings(std::move(file)) { e.train = std::move(base); }

  Json file_settings;  // what --config gave (an empty object without it)
  loraft::train::Experiment e;
  std::string model, vocab, config_file;
  bool quiet = false;
  loraft::app::RunFlags run;
  loraft::app::DistFlags dist;
  std::optional<loraft::app::SettingFlags> settings;

  void declare(loraft::app::Options& o) {
    o.required("model", model, "Hugging Face checkpoint folder (config.json + model.safetensors)");
    o.required("train", e.train_data, "training data: imdb:<root>:train, ag_news:<file.csv>, csv:/tsv:/jsonl:<file>");
    o.required("eval", e.eval_data, "evaluation data, same forms as --train");
    o.optional("vocab", vocab, "vocab.txt (default: the model folder's vocab.txt)");
    o.optional("config", config_file, "JSON file of training settings; flags given here override it");
    o.optional("num-labels", e.num_labels, "classes (default: from the training data's label names)",
               std::int64_t{0}, std::int64_t{100000});
    o.optional("train-limit", e.train_limit, "use a seeded random subset of this many training rows (0: all)",
               std::int64_t{0}, std::numeric_limits<std::int64_t>::max());
    o.optional("eval-limit", e.eval_limit, "use a seeded random subset of this many evaluation rows (0: all)",
               std::int64_t{0}, std::numeric_limits<std::int64_t>::max());
    o.optional("text-column", e.text_column, "csv/tsv/jsonl: column holding the text");
    o.optional("label-column", e.label_column, "csv/tsv/jsonl: column holding the label");
    settings.emplace(o);
    loraft::train::TrainConfig::fields(e.train, *settings);
    run.declare(o);
    dist.declare(o);
    o.flag("quiet", quiet, "print warnings, errors and progress only (not what data and model were loaded)");
  }
};

int train_main(Flags& f) {
  loraft::configure_threads(f.run.threads);
  f.settings->apply();
  // A setting of another method, on the command line or in the file, is an error, not a
  // setting silently ignored (`--r 4 --method ia3`).
  const std::string context = std::string("method ") + loraft::train::to_string(f.e.train.method);
  f.settings->refuse_inapplicable(f.e.train, context);
  loraft::io::refuse_inapplicable_settings(f.file_settings, f.e.train, context + " (in " + f.config_file + ")");
  if (f.quiet) loraft::set_log_level(loraft::LogLevel::warning);

  f.e.model = f.model;
  f.e.vocab = f.vocab;
  loraft::train::RunOptions options = f.run.run_options();
  f.dist.connect(options, f.e.train.device);
  auto result = loraft::train::run_experiment(f.e, options, f.run.cache_folder(), !f.quiet);
  if (!result.lead) return 0;  // rank 0 reports the run
  const Json& last = result.summary["final"];
  std::cout << Json{{"run_dir", result.run_dir.string()},
                    {"reused", result.reused},
                    {"eval_loss", last.value("eval_loss", 0.0)},
                    {"eval_accuracy", last.value("eval_accuracy", 0.0)},
                    {"train_time_s", result.summary["train_time_s"]},
                    {"trainable_parameters", result.summary["trainable_parameters"]}}
                   .dump()
            << "\n";
  if (!f.quiet)
    std::cerr << "run record: " << result.run_dir.string() << (result.reused ? " (finished earlier, reused)" : "")
              << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return loraft::app::guard("loraft-train", [&] {
    loraft::train::TrainConfig base;
    Json file = Json::object();
    const std::string config = loraft::app::find_flag(argc, argv, "config");
    if (!config.empty()) {
      file = loraft::io::read_json(config);
      base = loraft::train::TrainConfig::from_json(file, config);
    }
    Flags flags(base, file);
    loraft::app::Options options;
    flags.declare(options);
    if (!loraft::app::parse(argc, argv, "loraft-train",
                            "Fine-tunes a DistilBERT checkpoint (full fine-tuning or an adapter method) and records the run.",
                            options))
      return 0;
    return train_main(flags);
  });
}
