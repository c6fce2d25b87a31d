// loraft-train: one fine-tuning run (full, LoRA or LoRA+) from the command line or a JSON
// config file, recorded in a run folder named by the hash of its resolved configuration.
#include <iostream>

#include "common/app.h"
#include "common/run_flags.h"
#include "loraft/core/threads.h"
#include "loraft/train/experiment.h"

namespace {

using loraft::io::Json;

struct Flags {
  explicit Flags(loraft::train::TrainConfig base)
      : train(std::move(base)),
        method(loraft::train::to_string(train.method)),
        padding(loraft::data::to_string(train.padding)),
        loraplus_decay(loraft::optim::to_string(train.loraplus_decay)),
        autocast(loraft::train::to_string(train.autocast)) {}

  loraft::train::TrainConfig train;
  std::string method, padding, loraplus_decay, autocast;
  std::string model, vocab, train_data, eval_data, config_file;
  std::string text_column = "text", label_column = "label";
  std::int64_t train_limit = 0, eval_limit = 0;
  std::int64_t num_labels = 0;
  loraft::app::RunFlags run;

  void declare(loraft::app::Options& o) {
    o.required("model", model, "Hugging Face checkpoint folder (config.json + model.safetensors)");
    o.required("train", train_data, "training data: imdb:<root>:train, ag_news:<file.csv>, csv:/tsv:/jsonl:<file>");
    o.required("eval", eval_data, "evaluation data, same forms as --train");
    o.optional("vocab", vocab, "vocab.txt (default: the model folder's vocab.txt)");
    o.optional("config", config_file, "JSON file of training settings; flags given here override it");
    o.optional("num-labels", num_labels, "classes (default: from the training data's label names)");
    o.optional("train-limit", train_limit, "use a seeded random subset of this many training rows (0: all)");
    o.optional("eval-limit", eval_limit, "use a seeded random subset of this many evaluation rows (0: all)");
    o.optional("text-column", text_column, "csv/tsv/jsonl: column holding the text");
    o.optional("label-column", label_column, "csv/tsv/jsonl: column holding the label");
    o.optional("method", method, "full, lora or loraplus");
    o.optional("lr", train.learning_rate, "peak learning rate");
    o.optional("weight-decay", train.weight_decay, "AdamW decoupled weight decay (Trainer groups)");
    o.optional("epochs", train.epochs, "passes over the training data");
    o.optional("batch-size", train.batch_size, "training batch size");
    o.optional("gradient-accumulation-steps", train.gradient_accumulation_steps,
               "batches per optimizer step (Trainer semantics, also for an epoch's last, shorter group)");
    o.optional("eval-batch-size", train.eval_batch_size, "evaluation batch size");
    o.optional("warmup-steps", train.warmup_steps, "linear warm-up steps before the linear decay");
    o.optional("max-grad-norm", train.max_grad_norm, "gradient clipping (0: off)");
    o.optional("seed", train.seed, "seed of data order, dropout and LoRA init");
    o.optional("r", train.lora.r, "LoRA rank");
    o.optional("lora-alpha", train.lora.lora_alpha, "LoRA alpha (scaling alpha/r)");
    o.optional("lora-dropout", train.lora.lora_dropout, "dropout on the LoRA input");
    o.multiple("target-modules", train.lora.target_modules, "LoRA targets (default q_lin v_lin)");
    o.optional("loraplus-ratio", train.loraplus_ratio, "LoRA+: lr(B) / lr(A)");
    o.optional("loraplus-decay", loraplus_decay, "LoRA+ weight decay: peft_faithful (0, as PEFT) or corrected");
    o.optional("padding", padding, "longest (per batch) or max_length");
    o.optional("max-length", train.max_length, "tokens per text, [CLS] and [SEP] included");
    o.optional("device", train.device, "cpu, cuda or cuda:N");
    o.optional("autocast", autocast, "mixed precision of the forward passes: none, bf16 (CPU or CUDA) or fp16 (CUDA, loss scaling)");
    run.declare(o);
  }
};

int train_main(Flags& f) {
  loraft::configure_threads(f.run.threads);
  f.train.method = loraft::train::parse_method(f.method);
  f.train.padding = loraft::data::parse_padding(f.padding, "--padding");
  f.train.loraplus_decay = loraft::optim::parse_loraplus_decay(f.loraplus_decay, "--loraplus-decay");
  f.train.autocast = loraft::train::parse_autocast(f.autocast, "--autocast");

  loraft::train::Experiment e;
  e.model = f.model;
  e.vocab = f.vocab;
  e.train_data = f.train_data;
  e.eval_data = f.eval_data;
  e.train_limit = f.train_limit;
  e.eval_limit = f.eval_limit;
  e.text_column = f.text_column;
  e.label_column = f.label_column;
  e.num_labels = f.num_labels;
  e.train = f.train;
  auto result = loraft::train::run_experiment(e, f.run.run_options(), f.run.cache_folder());
  const Json& last = result.summary["final"];
  std::cout << Json{{"run_dir", result.run_dir.string()},
                    {"reused", result.reused},
                    {"eval_loss", last.value("eval_loss", 0.0)},
                    {"eval_accuracy", last.value("eval_accuracy", 0.0)},
                    {"train_time_s", result.summary["train_time_s"]},
                    {"trainable_parameters", result.summary["trainable_parameters"]}}
                   .dump()
            << "\n";
  std::cerr << "run record: " << result.run_dir.string() << (result.reused ? " (finished earlier, reused)" : "")
            << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return loraft::app::guard("loraft-train", [&] {
    loraft::train::TrainConfig base;
    const std::string config = loraft::app::find_flag(argc, argv, "config");
    if (!config.empty()) base = loraft::train::TrainConfig::from_json(loraft::io::read_json(config), config);
    Flags flags(base);
    loraft::app::Options options;
    flags.declare(options);
    if (!loraft::app::parse(argc, argv, "loraft-train",
                            "Fine-tunes a DistilBERT checkpoint (full, LoRA or LoRA+) and records the run.",
                            options))
      return 0;
    return train_main(flags);
  });
}
