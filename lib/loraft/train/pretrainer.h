#pragma once
/// @file
/// @brief Masked-language-model pretraining runs (run_mlm.py with the HF Trainer): AdamW
/// with linear warm-up and decay, held-out MLM loss and perplexity each epoch, run records,
/// checkpoints and exact resume, an HF-layout result folder.

#include <cstdint>
#include <filesystem>
#include <string>

#include "loraft/io/json.h"
#include "loraft/model/distilbert.h"
#include "loraft/train/mlm.h"
#include "loraft/train/trainer.h"

namespace loraft::train {

/// Everything besides the model and the data that determines a pretraining run's result
/// (and so names its run folder). Defaults are run_mlm.py's with the HF Trainer's
/// (mlm_probability 0.15, weight decay 0.01 as BERT-style recipes set it, clipping at 1.0)
/// and a learning rate suited to a small encoder trained from scratch.
struct PretrainConfig {
  double learning_rate = 5e-4;      ///< peak learning rate
  double weight_decay = 0.01;       ///< decoupled, the Trainer's decay groups
  std::int64_t epochs = 1;          ///< passes over the training blocks
  /// When positive, the run is this many optimizer steps instead (TrainingArguments.max_steps:
  /// it overrides epochs, the schedule decays to 0 at this step, the last epoch may be partial
  /// and is evaluated where it stops).
  std::int64_t max_steps = 0;
  std::int64_t batch_size = 32;     ///< blocks per optimizer step
  std::int64_t eval_batch_size = 64;  ///< blocks per evaluation batch (does not change results)
  std::int64_t warmup_steps = 0;    ///< linear warm-up, then linear decay to 0
  double max_grad_norm = 1.0;       ///< clipping (0 disables)
  std::uint64_t seed = 42;          ///< block order, masking, dropout
  MaskingOptions masking;           ///< the collator's settings
  /// Weight of the [CLS] bag-of-words term of pretraining_loss() (0: run_mlm's MLM loss
  /// alone; the field is then left out of to_json(), so such runs keep their names).
  double cls_bow_weight = 0.0;
  std::string device = "cpu";       ///< "cpu", "cuda", "cuda:1"

  /// Every field, declared once (io/settings.h): JSON key, member, flag and help, rule.
  /// The masking options are recorded flat; cls_bow_weight only when not 0, so that MLM-only
  /// runs keep the names they had before it existed.
  template <class Self, class Visitor>
  static void fields(Self& c, Visitor&& v) {
    using io::at_least;
    using io::setting;
    using I = std::int64_t;
    v(setting("learning_rate", c.learning_rate).flag("lr", "peak learning rate").rule(at_least(0.0), ">= 0"));
    v(setting("weight_decay", c.weight_decay).flag("weight-decay", "AdamW decoupled weight decay (Trainer groups)")
          .rule(at_least(0.0), ">= 0"));
    v(setting("epochs", c.epochs).flag("epochs", "passes over the training blocks").rule(at_least<I>(1), ">= 1"));
    v(setting("max_steps", c.max_steps)
          .flag("max-steps", "run this many optimizer steps instead of whole epochs (0: epochs)")
          .rule(at_least<I>(0), ">= 0 (0: epochs decide)"));
    v(setting("batch_size", c.batch_size).flag("batch-size", "blocks per optimizer step").rule(at_least<I>(1), ">= 1"));
    v(setting("eval_batch_size", c.eval_batch_size).flag("eval-batch-size", "blocks per evaluation batch")
          .rule(at_least<I>(1), ">= 1"));
    v(setting("warmup_steps", c.warmup_steps).flag("warmup-steps", "linear warm-up steps before the linear decay")
          .rule(at_least<I>(0), ">= 0"));
    v(setting("max_grad_norm", c.max_grad_norm).flag("max-grad-norm", "gradient clipping (0: off)")
          .rule(at_least(0.0), ">= 0 (0 disables clipping)"));
    v(setting("seed", c.seed).flag("seed", "seed of initialisation, block order, masking and dropout"));
    v(setting("mlm_probability", c.masking.mlm_probability)
          .flag("mlm-probability", "share of tokens selected for the loss")
          .rule([](double p) { return p > 0 && p < 1; }, "in (0, 1)"));
    v(setting("mask_token_id", c.masking.mask_token_id).rule(at_least<I>(0), "an id of the vocabulary"));
    v(setting("vocab_size", c.masking.vocab_size).rule(at_least<I>(1), ">= 1"));
    v(setting("cls_bow_weight", c.cls_bow_weight)
          .flag("cls-bow-weight", "weight of a loss training [CLS] to predict the text's words (0: MLM alone, as run_mlm)")
          .rule(at_least(0.0), ">= 0 (0: MLM alone)")
          .only_if(c.cls_bow_weight != 0, io::Absent::omitted));
    v(setting("device", c.device).flag("device", "cpu, cuda or cuda:N"));
  }

  /// Plain JSON of every field (for run records and the run folder's hash).
  io::Json to_json() const;
  /// Reads what to_json() writes (unknown keys and mistyped values are a ConfigError).
  static PretrainConfig from_json(const io::Json& json, const std::string& where);
  /// ConfigError for impossible values.
  void validate() const;
};

/// One pretraining run over grouped blocks, recorded in a run folder (see RunDirectory):
/// metrics.jsonl gets a `step` record per optimizer step (loss, grad_norm, lr; with a [CLS]
/// bag-of-words term also mlm_loss and cls_bow_loss, `loss` being their weighted sum) and an
/// `eval` record per epoch (eval_loss, eval_perplexity, eval_masked_tokens);
/// summary.json the per-epoch evaluations, the unigram baseline of the same held-out
/// masking, timings and sizes. `final/` holds the model as save_pretrained() writes it.
///
/// Batches are a pure function of (seed, epoch, index): data::epoch_order() over the blocks
/// and masked_batch() masking; a checkpoint holds the weights, optimizer moments, schedule,
/// generator state (dropout) and place in the data, so a resumed run ends bitwise equal to
/// an uninterrupted one on the CPU.
class Pretrainer {
 public:
  /// @param model     the starting model (init_weights() for pretraining from scratch, or a
  ///                  checkpoint for domain-adaptive pretraining); trained in place
  /// @param train     training blocks (shuffled each epoch; a last partial batch is kept)
  /// @param heldout   held-out blocks (evaluated after each epoch, same masking each time)
  /// @param config    what determines the result besides model and data
  /// @param identity  the model's and data's identities, hashed into the run folder's name
  /// @param options   how to run (folders, checkpoints, progress); see RunOptions
  Pretrainer(model::DistilBertForMaskedLM model, const MlmBlocks& train, const MlmBlocks& heldout,
             PretrainConfig config, io::Json identity, RunOptions options);

  /// Trains (or resumes, or reuses a finished run) and returns the summary.
  RunResult run();

  /// The full resolved configuration that names the run folder (the config, the model's
  /// architecture, the identity and the loraft version).
  io::Json run_config() const;
  /// The model (trained in place once run() started).
  model::DistilBertForMaskedLM& model() { return model_; }

 private:
  model::DistilBertForMaskedLM model_;
  const MlmBlocks& train_;
  const MlmBlocks& heldout_;
  PretrainConfig config_;
  io::Json identity_;
  RunOptions options_;
};

/// save_pretrained() of the MLM model, with the weights stored as `dtype` (torch::kFloat32
/// or torch::kFloat16; config.json's torch_dtype says which). load_masked_lm() converts
/// float16 back to float32.
void save_masked_lm(const std::filesystem::path& folder, const model::DistilBertForMaskedLM& model,
                    torch::ScalarType dtype);

}  // namespace loraft::train
