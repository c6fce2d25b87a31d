// loraft-train: one fine-tuning run (full, LoRA or LoRA+) from the command line or a JSON
// config file, recorded in a run folder named by the hash of its resolved configuration.
#include <iostream>

#include "common/app.h"
#include "common/run_flags.h"
#include "loraft/core/threads.h"
#include "loraft/train/experiment.h"

namespace {

using loraft::io::Json;

// The flags fill an Experiment directly; only the paths (strings for the parser) and the
// enumerations (names on the command line) are converted in train_main.
struct Flags {
  explicit Flags(loraft::train::TrainConfig base)
      : method(loraft::train::to_string(base.method)),
        padding(loraft::data::to_string(base.padding)),
        loraplus_decay(loraft::optim::to_string(base.loraplus_decay)),
        autocast(loraft::train::to_string(base.autocast)) {
    e.train = std::move(base);
  }

  loraft::train::Experiment e;
  std::string method, padding, loraplus_decay, autocast;
  std::string model, vocab, config_file;
  loraft::app::RunFlags run;

  void declare(loraft::app::Options& o) {
    o.required("model", model, "Hugging Face checkpoint folder (config.json + model.safetensors)");
    o.required("train", e.train_data, "training data: imdb:<root>:train, ag_news:<file.csv>, csv:/tsv:/jsonl:<file>");
    o.required("eval", e.eval_data, "evaluation data, same forms as --train");
    o.optional("vocab", vocab, "vocab.txt (default: the model folder's vocab.txt)");
    o.optional("config", config_file, "JSON file of training settings; flags given here override it");
    o.optional("num-labels", e.num_labels, "classes (default: from the training data's label names)");
    o.optional("train-limit", e.train_limit, "use a seeded random subset of this many training rows (0: all)");
    o.optional("eval-limit", e.eval_limit, "use a seeded random subset of this many evaluation rows (0: all)");
    o.optional("text-column", e.text_column, "csv/tsv/jsonl: column holding the text");
    o.optional("label-column", e.label_column, "csv/tsv/jsonl: column holding the label");
    o.optional("method", method, "full, lora or loraplus");
    o.optional("lr", e.train.learning_rate, "peak learning rate");
    o.optional("weight-decay", e.train.weight_decay, "AdamW decoupled weight decay (Trainer groups)");
    o.optional("epochs", e.train.epochs, "passes over the training data");
    o.optional("batch-size", e.train.batch_size, "training batch size");
    o.optional("gradient-accumulation-steps", e.train.gradient_accumulation_steps,
               "batches per optimizer step (Trainer semantics, also for an epoch's last, shorter group)");
    o.optional("eval-batch-size", e.train.eval_batch_size, "evaluation batch size");
    o.optional("warmup-steps", e.train.warmup_steps, "linear warm-up steps before the linear decay");
    o.optional("max-grad-norm", e.train.max_grad_norm, "gradient clipping (0: off)");
    o.optional("seed", e.train.seed, "seed of data order, dropout and LoRA init");
    o.optional("r", e.train.lora.r, "LoRA rank");
    o.optional("lora-alpha", e.train.lora.lora_alpha, "LoRA alpha (scaling alpha/r)");
    o.optional("lora-dropout", e.train.lora.lora_dropout, "dropout on the LoRA input");
    o.multiple("target-modules", e.train.lora.target_modules, "LoRA targets (default q_lin v_lin)");
    o.optional("loraplus-ratio", e.train.loraplus_ratio, "LoRA+: lr(B) / lr(A)");
    o.optional("loraplus-decay", loraplus_decay, "LoRA+ weight decay: peft_faithful (0, as PEFT) or corrected");
    o.optional("padding", padding, "longest (per batch) or max_length");
    o.optional("max-length", e.train.max_length, "tokens per text, [CLS] and [SEP] included");
    o.optional("device", e.train.device, "cpu, cuda or cuda:N");
    o.optional("autocast", autocast, "mixed precision of the forward passes: none, bf16 (CPU or CUDA) or fp16 (CUDA, loss scaling)");
    run.declare(o);
  }
};

int train_main(Flags& f) {
  loraft::configure_threads(f.run.threads);
  f.e.train.method = loraft::train::parse_method(f.method);
  f.e.train.padding = loraft::data::parse_padding(f.padding, "--padding");
  f.e.train.loraplus_decay = loraft::optim::parse_loraplus_decay(f.loraplus_decay, "--loraplus-decay");
  f.e.train.autocast = loraft::train::parse_autocast(f.autocast, "--autocast");

  f.e.model = f.model;
  f.e.vocab = f.vocab;
  auto result = loraft::train::run_experiment(f.e, f.run.run_options(), f.run.cache_folder());
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
