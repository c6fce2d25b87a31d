#pragma once
/// @file
/// @brief Fine-tuning runs with Hugging Face Trainer semantics: full fine-tuning, LoRA, LoRA+,
/// DoRA, IA3, prompt tuning and bottleneck adapters, per-step and per-epoch records, atomic checkpoints and exact
/// resume.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "loraft/adapter/bottleneck.h"
#include "loraft/adapter/ia3_config.h"
#include "loraft/adapter/lora_config.h"
#include "loraft/adapter/prompt_tuning.h"
#include "loraft/core/error.h"
#include "loraft/core/system.h"
#include "loraft/data/batcher.h"
#include "loraft/dist/process_group.h"
#include "loraft/io/json.h"
#include "loraft/io/settings.h"
#include "loraft/model/distilbert.h"
#include "loraft/optim/adamw.h"
#include "loraft/optim/grad_scaler.h"
#include "loraft/optim/param_groups.h"
#include "loraft/optim/schedule.h"
#include "loraft/train/loop.h"
#include "loraft/train/precision.h"

namespace loraft::train {

/// The three methods the report compares, and the related methods beside them. Each adapter
/// method has its own settings object in TrainConfig (lora, ia3, prompt, bottleneck); the settings of
/// another method are refused, not ignored.
enum class Method {
  full,      ///< every parameter trains
  lora,      ///< LoRA matrices and the classification head train
  loraplus,  ///< LoRA with lr(B) = ratio x lr(A), groups as PEFT builds them
  /// LoRA with PEFT's `use_dora=True` (adapter::LoraConfig::use_dora): the LoRA settings, plus a
  /// magnitude vector per wrapped layer, all in the Trainer's groups (the magnitudes decay).
  dora,
  /// IA3 (PEFT's IA3Config, adapter::Ia3Config): learned scaling vectors on keys, values and
  /// the feed-forward input, and the classification head; the Trainer's groups.
  ia3,
  /// Prompt tuning (PEFT's PromptTuningConfig, adapter::PromptTuningConfig): learned virtual
  /// tokens before the input, and the classification head; the Trainer's groups.
  prompt,
  /// Bottleneck adapters (AdapterHub `adapters`' SeqBnConfig / DoubleSeqBnConfig,
  /// adapter::BottleneckConfig): small down/up projections at the residuals of every block,
  /// and the classification head; the Trainer's groups.
  adapter,
};

/// Whether `method` trains LoRA matrices (lora, loraplus, dora) and so reads TrainConfig::lora.
bool uses_lora(Method method);

/// "full", "lora", "loraplus", "dora", "ia3", "prompt" or "adapter".
const char* to_string(Method method);
/// The Method called `name`; ConfigError otherwise.
Method parse_method(const std::string& name);

/// Where dropout's random numbers come from.
enum class DropoutSeeding {
  /// One generator seeded once with the run's seed and drawn from in step order, as the
  /// Hugging Face Trainer does (one process only).
  stream,
  /// Reseeded before each micro-batch from (seed, epoch, position of the micro-batch's first
  /// row in the epoch's order): a micro-batch's masks do not depend on how many ranks there
  /// are or where the run resumed. Needed by data-parallel runs.
  per_batch,
};

/// "stream" or "per_batch".
const char* to_string(DropoutSeeding seeding);
/// The DropoutSeeding called `name`; ConfigError naming `where` otherwise.
DropoutSeeding parse_dropout_seeding(const std::string& name, const std::string& where);

/// The seed DropoutSeeding::per_batch gives the micro-batch whose first row stands at
/// `position` of epoch `epoch`'s order (keyed_seed() of the three numbers).
std::uint64_t micro_batch_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t position);

}  // namespace loraft::train

namespace loraft::io {
/// Method by name in settings.
template <>
struct EnumNames<train::Method> {
  static const char* to_string(train::Method m) { return train::to_string(m); }  ///< its name
  static train::Method parse(const std::string& name, const std::string&) { return train::parse_method(name); }  ///< by name
};
/// Padding by name in settings.
template <>
struct EnumNames<data::Padding> {
  static const char* to_string(data::Padding p) { return data::to_string(p); }  ///< its name
  static data::Padding parse(const std::string& name, const std::string& where) { return data::parse_padding(name, where); }  ///< by name
};
/// LoraPlusDecay by name in settings.
template <>
struct EnumNames<optim::LoraPlusDecay> {
  static const char* to_string(optim::LoraPlusDecay d) { return optim::to_string(d); }  ///< its name
  static optim::LoraPlusDecay parse(const std::string& name, const std::string& where) {
    return optim::parse_loraplus_decay(name, where);
  }  ///< by name
};
/// DropoutSeeding by name in settings.
template <>
struct EnumNames<train::DropoutSeeding> {
  static const char* to_string(train::DropoutSeeding d) { return train::to_string(d); }  ///< its name
  static train::DropoutSeeding parse(const std::string& name, const std::string& where) {
    return train::parse_dropout_seeding(name, where);
  }  ///< by name
};
/// Autocast by name in settings.
template <>
struct EnumNames<train::Autocast> {
  static const char* to_string(train::Autocast a) { return train::to_string(a); }  ///< its name
  static train::Autocast parse(const std::string& name, const std::string& where) {
    return train::parse_autocast(name, where);
  }  ///< by name
};
}  // namespace loraft::io

namespace loraft::train {

/// Everything that determines a run's result (and so names its run folder). Defaults are
/// the report's settings: transformers' TrainingArguments defaults plus lr 5e-5, batch 16,
/// 3 epochs, weight decay 0.01, LoRA r=8, alpha 32, dropout 0.1, LoRA+ ratio 2.
struct TrainConfig {
  Method method = Method::lora;                  ///< what trains
  /// For lora, loraplus and dora. Its use_dora stays false: Method::dora asks for DoRA (and
  /// so names it in the run's JSON); see lora_config().
  adapter::LoraConfig lora;
  adapter::Ia3Config ia3;                        ///< for ia3
  adapter::PromptTuningConfig prompt;            ///< for prompt
  adapter::BottleneckConfig bottleneck;          ///< for adapter
  double loraplus_ratio = 2.0;                   ///< lr(B) / lr(A)
  double loraplus_lr_embedding = 1e-6;           ///< PEFT's default
  optim::LoraPlusDecay loraplus_decay = optim::LoraPlusDecay::peft_faithful;  ///< see LoraPlusDecay
  double learning_rate = 5e-5;                   ///< peak learning rate
  double weight_decay = 0.01;                    ///< decoupled, Trainer's decay groups
  std::int64_t epochs = 3;                       ///< passes over the training rows
  std::int64_t batch_size = 16;                  ///< training batch (one micro-batch)
  /// Micro-batches per optimizer step (TrainingArguments `gradient_accumulation_steps`); see
  /// Trainer for how an epoch that does not divide evenly ends.
  std::int64_t gradient_accumulation_steps = 1;
  std::int64_t eval_batch_size = 16;             ///< evaluation batch
  std::int64_t warmup_steps = 0;                 ///< linear warm-up, then linear decay to 0
  double max_grad_norm = 1.0;                    ///< clipping (0 disables)
  std::uint64_t seed = 42;                       ///< data order, dropout, LoRA init
  data::Padding padding = data::Padding::longest;  ///< how batches are padded
  std::int64_t max_length = 128;                 ///< tokens per row (cache and padding)
  std::string device = "cpu";                    ///< "cpu", "cuda", "cuda:1"
  Autocast autocast = Autocast::none;            ///< mixed precision of the forward passes
  DropoutSeeding dropout_seeding = DropoutSeeding::stream;  ///< see DropoutSeeding

  /// Every field, declared once (io/settings.h): JSON key, member, flag and help, rule. The
  /// LoRA fields apply to lora, loraplus and dora, the LoRA+ ones to loraplus (the others are
  /// written as null); the IA3, prompt-tuning and bottleneck objects to their methods (and are left out of
  /// the JSON otherwise, so that the run folders of the other methods keep their names).
  template <class Self, class Visitor>
  static void fields(Self& c, Visitor&& v) {
    using io::at_least;
    using io::above;
    using io::setting;
    using I = std::int64_t;
    const bool plus = c.method == Method::loraplus;
    v(setting("method", c.method)
          .flag("method", "full, lora, loraplus, dora (LoRA with PEFT's use_dora), ia3, prompt (prompt tuning) "
                          "or adapter (bottleneck adapters)"));
    v.nested("lora", c.lora, uses_lora(c.method));
    v.nested("ia3", c.ia3, c.method == Method::ia3, io::Absent::omitted);
    v.nested("prompt", c.prompt, c.method == Method::prompt, io::Absent::omitted);
    v.nested("bottleneck", c.bottleneck, c.method == Method::adapter, io::Absent::omitted);
    v(setting("loraplus_ratio", c.loraplus_ratio).flag("loraplus-ratio", "LoRA+: lr(B) / lr(A)")
          .rule(above(0.0), "> 0").only_if(plus));
    v(setting("loraplus_lr_embedding", c.loraplus_lr_embedding).rule(at_least(0.0), ">= 0").only_if(plus));
    v(setting("loraplus_decay", c.loraplus_decay)
          .flag("loraplus-decay", "LoRA+ weight decay: peft_faithful (0, as PEFT) or corrected").only_if(plus));
    v(setting("learning_rate", c.learning_rate).flag("lr", "peak learning rate").rule(at_least(0.0), ">= 0"));
    v(setting("weight_decay", c.weight_decay).flag("weight-decay", "AdamW decoupled weight decay (Trainer groups)")
          .rule(at_least(0.0), ">= 0"));
    v(setting("epochs", c.epochs).flag("epochs", "passes over the training data").rule(at_least<I>(1), ">= 1"));
    v(setting("batch_size", c.batch_size).flag("batch-size", "training batch size").rule(at_least<I>(1), ">= 1"));
    v(setting("gradient_accumulation_steps", c.gradient_accumulation_steps)
          .flag("gradient-accumulation-steps",
                "batches per optimizer step (Trainer semantics, also for an epoch's last, shorter group)")
          .rule(at_least<I>(1), ">= 1"));
    v(setting("eval_batch_size", c.eval_batch_size).flag("eval-batch-size", "evaluation batch size")
          .rule(at_least<I>(1), ">= 1"));
    v(setting("warmup_steps", c.warmup_steps).flag("warmup-steps", "linear warm-up steps before the linear decay")
          .rule(at_least<I>(0), ">= 0"));
    v(setting("max_grad_norm", c.max_grad_norm).flag("max-grad-norm", "gradient clipping (0: off)")
          .rule(at_least(0.0), ">= 0 (0 disables clipping)"));
    v(setting("seed", c.seed).flag("seed", "seed of data order, dropout and LoRA init"));
    v(setting("padding", c.padding).flag("padding", "longest (per batch) or max_length"));
    v(setting("max_length", c.max_length).flag("max-length", "tokens per text, [CLS] and [SEP] included")
          .rule(at_least<I>(2), ">= 2"));
    v(setting("device", c.device).flag("device", "cpu, cuda or cuda:N"));
    v(setting("autocast", c.autocast)
          .flag("autocast", "mixed precision of the forward passes: none, bf16 (CPU or CUDA) or fp16 (CUDA, loss scaling)"));
    // Recorded only when not the default, so that earlier runs keep their folders' names.
    v(setting("dropout_seeding", c.dropout_seeding)
          .flag("dropout-seeding",
                "stream (one generator, as the HF Trainer) or per_batch (one seed per micro-batch: needed by "
                "data-parallel runs)")
          .only_if(c.dropout_seeding != DropoutSeeding::stream, io::Absent::omitted));
  }

  /// Plain JSON of every field (for run records and the run folder's hash).
  io::Json to_json() const;
  /// Reads what to_json() writes; missing keys keep their defaults; unknown keys and values of
  /// the wrong type are a ConfigError naming the key.
  static TrainConfig from_json(const io::Json& json, const std::string& where);
  /// ConfigError for impossible values (the rules of fields(), an unknown device, fp16
  /// without CUDA, the method's settings that cannot make a model, lora.use_dora set by hand:
  /// the run's JSON would not record it, so only Method::dora asks for DoRA).
  void validate() const;
  /// The LoRA configuration the run injects and saves (lora, loraplus, dora): `lora`, with
  /// use_dora true for Method::dora.
  adapter::LoraConfig lora_config() const;
  /// The modules that train in full beside the method's adapter and that PEFT counts twice
  /// (modules_to_save of the method's settings); empty for full fine-tuning, and for bottleneck
  /// adapters, whose library trains the head itself without a copy.
  std::vector<std::string> modules_to_save() const;
};

/// Loss and classification quality over a data set.
struct EvalResult {
  double loss = 0.0;       ///< mean cross-entropy per example
  double accuracy = 0.0;   ///< fraction of correct argmax predictions
  double macro_f1 = 0.0;   ///< unweighted mean F1 over the classes present in labels or predictions
  std::int64_t examples = 0;  ///< rows evaluated
};

/// Evaluates `model` (in eval mode, without gradients, under `autocast` as the Trainer's
/// prediction_step) on every row of `rows`. With a `group` of several ranks each evaluates
/// every size()-th batch from its rank on, and the sums are added across ranks: every rank
/// returns the result of the whole data set.
EvalResult evaluate(model::DistilBertForSequenceClassification& model, const data::TokenRows& rows,
                    std::int64_t batch_size, data::Padding padding, std::int64_t max_length,
                    const torch::Device& device = torch::kCPU, Autocast autocast = Autocast::none,
                    dist::ProcessGroup* group = nullptr);

/// Prepares `model` for `config.method` (the method's adapter injected, LoRA and random
/// prompts seeded from config.seed; every parameter trainable for full) and returns the
/// optimizer's parameter groups: the Trainer's decay groups, or PEFT's LoRA+ groups.
/// `prompt_init_ids`: for prompt tuning with text initialisation, the tokenizer's ids of
/// config.prompt.prompt_tuning_init_text ([CLS] and [SEP] included, as PEFT tokenizes it).
std::vector<optim::ParamGroup> prepare_model(model::DistilBertForSequenceClassification& model,
                                             const TrainConfig& config,
                                             const std::vector<std::int64_t>& prompt_init_ids = {});

/// How train_step() turns micro-batches into one update.
struct StepOptions {
  double max_grad_norm = 1.0;             ///< clipping (0 disables)
  /// Each micro-batch's mean loss is divided by this before backward (accelerate's
  /// `backward` with the Trainer's gradient_accumulation_steps), also when fewer micro-batches
  /// make up the step, as at the end of an epoch that does not divide evenly.
  std::int64_t accumulation_steps = 1;
  Autocast autocast = Autocast::none;     ///< precision of the forward passes
  optim::GradScaler* scaler = nullptr;    ///< loss scaling (fp16), or none
  /// DropoutSeeding::per_batch: reseed before each micro-batch with micro_batch_seed(*this,
  /// its epoch, its position); none: the generator runs on.
  std::optional<std::uint64_t> dropout_seed;
  /// Data-parallel ranks, each holding its part of every micro-batch (Batcher::part); their
  /// gradients and losses are summed before the update. None: one process.
  dist::ProcessGroup* group = nullptr;
};

/// What one optimizer step measured.
struct StepResult {
  double loss = 0.0;       ///< mean over the micro-batches of their mean cross-entropy, before the update
  double grad_norm = 0.0;  ///< 2-norm of all (unscaled) gradients before clipping
  bool skipped = false;    ///< fp16: gradients not finite, no update, the loss scale backed off
};

/// What optimizer_update() did.
struct UpdateResult {
  double grad_norm = 0.0;  ///< 2-norm of all (unscaled) gradients before clipping
  bool skipped = false;    ///< non-finite gradients under a scaler: no update, the scale backed off
};

/// The Trainer's update once the gradients are in (transformers 4.46.3
/// `_inner_training_loop`): unscale them when `scaler` is given, clip_grad_norm_(max_grad_norm)
/// when positive, AdamW step (skipped, as GradScaler.step, when a scaler found non-finite
/// gradients), zero the gradients. NonFiniteError, gradients dropped and nothing updated,
/// when the norm is not finite without a scaler.
UpdateResult optimizer_update(optim::AdamW& optimizer, double max_grad_norm,
                              optim::GradScaler* scaler = nullptr);

/// One Trainer update (transformers 4.46.3 `Trainer._inner_training_loop` and
/// `training_step`): for each micro-batch a forward under options.autocast in the model's
/// current mode, mean cross-entropy in float32, backward of loss / accumulation_steps (times
/// the loss scale with a scaler); then optimizer_update(). The caller sets the learning rate
/// first (see apply_schedule()). NonFiniteError (before any update) if a loss is not finite.
///
/// Data parallel (options.group): a micro-batch that is one rank's part of a whole batch
/// contributes its summed cross-entropy / the whole batch's rows, so that the gradients summed
/// across ranks are those of the whole batch's mean; the losses are summed with them, in the
/// same collective, and every rank then takes the same update (or throws the same error).
StepResult train_step(model::DistilBertForSequenceClassification& model, optim::AdamW& optimizer,
                      const std::vector<data::Batch>& micro_batches, const StepOptions& options);

/// Sets each group's lr to initial_lr x the schedule's current factor.
void apply_schedule(optim::AdamW& optimizer, const optim::LinearSchedule& schedule);

/// One fine-tuning run over tokenised rows, recorded in a run folder (see RunDirectory).
/// When it finishes, `final/` in the run folder holds the result: a PEFT adapter folder
/// (every adapter method) or a transformers checkpoint folder (full fine-tuning).
///
/// Gradient accumulation follows transformers 4.46.3: the schedule has
/// `epochs x max(batches_per_epoch / accumulation, 1)` steps; an update happens after every
/// `accumulation` micro-batches and after the last micro-batch of an epoch (a shorter group,
/// its losses still divided by `accumulation`); the run stops as soon as the schedule's steps
/// are done, even inside a later epoch, and evaluates at the end of that epoch.
///
/// Resume is exact: the batches of every epoch are a pure function of the seed, and a
/// checkpoint holds the trainable weights, the optimizer moments, the schedule position, the
/// LibTorch generator state and the place in the data, so a run stopped after step k and
/// resumed ends with the same weights, bit for bit on the CPU, as one that never stopped.
class Trainer {
 public:
  /// @param model     the starting model (pretrained weights); the trainer adapts it in place
  /// @param train     training rows (shuffled each epoch)
  /// @param eval      evaluation rows (evaluated at the end of each epoch)
  /// @param config    what determines the result
  /// @param identity  what else determines it: the model's and data's identities (paths and
  ///                  hashes), recorded in config.json and hashed into the run folder's name
  /// @param options   how to run (folders, checkpoints, progress)
  Trainer(model::DistilBertForSequenceClassification model, const data::TokenRows& train,
          const data::TokenRows& eval, TrainConfig config, io::Json identity, RunOptions options);

  /// Trains (or resumes, or reuses a finished run) and returns the summary.
  RunResult run();

  /// The full resolved configuration that names the run folder.
  io::Json run_config() const;
  /// For prompt tuning with text initialisation: the tokenizer's ids of the init text ([CLS]
  /// and [SEP] included); run() refuses text initialisation without them. The tokenizer's
  /// identity belongs in the run's identity, which names its folder.
  void set_prompt_init_ids(std::vector<std::int64_t> ids) { prompt_init_ids_ = std::move(ids); }
  /// The model (adapted in place once run() started).
  model::DistilBertForSequenceClassification& model() { return model_; }

 private:
  model::DistilBertForSequenceClassification model_;
  const data::TokenRows& train_;
  const data::TokenRows& eval_;
  TrainConfig config_;
  io::Json identity_;
  RunOptions options_;
  std::vector<std::int64_t> prompt_init_ids_;
};

}  // namespace loraft::train
