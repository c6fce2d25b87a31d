#include "loraft/train/pretrainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "loraft/core/log.h"
#include "loraft/core/progress.h"
#include "loraft/core/threads.h"
#include "loraft/core/timing.h"
#include "loraft/core/version.h"
#include "loraft/io/file.h"
#include "loraft/io/safetensors.h"
#include "loraft/model/pretrained.h"
#include "loraft/optim/param_groups.h"
#include "loraft/train/training_checkpoint.h"
#include "loraft/train/run_directory.h"

namespace loraft::train {
namespace fs = std::filesystem;
using io::Json;

Json PretrainConfig::to_json() const { return io::settings_to_json(*this); }

PretrainConfig PretrainConfig::from_json(const Json& j, const std::string& where) {
  PretrainConfig c = io::settings_from_json<PretrainConfig>(j, where);
  c.validate();
  return c;
}

void PretrainConfig::validate() const {
  io::validate_settings(*this);
  require(masking.mask_token_id < masking.vocab_size, "mask_token_id", "an id of the vocabulary");
  parse_device(device);
}

namespace {

Json eval_json(const MlmEvalResult& r) {
  return Json{{"loss", r.loss}, {"perplexity", r.perplexity}, {"masked_tokens", r.masked_tokens},
              {"blocks", r.blocks}};
}

}  // namespace

Pretrainer::Pretrainer(model::DistilBertForMaskedLM model, const MlmBlocks& train, const MlmBlocks& heldout,
                       PretrainConfig config, Json identity, RunOptions options)
    : model_(std::move(model)),
      train_(train),
      heldout_(heldout),
      config_(std::move(config)),
      identity_(std::move(identity)),
      options_(std::move(options)) {
  config_.validate();
  if (train_.size() == 0) throw ConfigError("no training blocks", "Pretrainer", "at least one block");
  // Without held-out text every evaluation would report a perplexity of 1 measured on nothing.
  if (heldout_.size() == 0)
    throw ConfigError("no held-out blocks to measure perplexity on", "Pretrainer (--validation-percent)",
                      "a validation share that leaves at least one block");
  if (train_.block_size > model_->config.max_position_embeddings)
    throw ConfigError("blocks of " + std::to_string(train_.block_size) +
                          " tokens exceed the model's max_position_embeddings",
                      "Pretrainer", "block_size <= max_position_embeddings");
  if (config_.masking.vocab_size > model_->config.vocab_size)
    throw ConfigError("masking vocab_size exceeds the model's vocabulary", "PretrainConfig.masking",
                      "at most " + std::to_string(model_->config.vocab_size));
  for (const MlmBlocks* b : {&train_, &heldout_})
    for (std::int32_t id : b->ids)
      if (id < 0 || id >= model_->config.vocab_size)
        throw ConfigError("token id " + std::to_string(id) + " outside the model's vocabulary",
                          b == &train_ ? "training blocks" : "held-out blocks",
                          "ids below " + std::to_string(model_->config.vocab_size));
}

Json Pretrainer::run_config() const {
  return Json{{"pretrain", config_.to_json()},
              {"model", model_->config.to_json({"DistilBertForMaskedLM"})},
              {"block_size", train_.block_size},
              {"identity", identity_},
              {"loraft_version", version()}};
}

namespace {

// Masked-LM pretraining as the loop's task (run_mlm.py): shuffled blocks, 80/10/10 masking
// drawn from (seed, epoch), one batch a step, held-out perplexity at each epoch's end.
class PretrainingTask : public TrainingTask {
 public:
  PretrainingTask(model::DistilBertForMaskedLM& model, optim::AdamW& optimizer, const MlmBlocks& train,
                  const MlmBlocks& heldout, const PretrainConfig& config, const torch::Device& device)
      : model_(model), optimizer_(optimizer), train_(train), heldout_(heldout), config_(config), device_(device) {}

  std::int64_t batches_per_epoch() const override {
    return (train_.size() + config_.batch_size - 1) / config_.batch_size;
  }

  StepOutcome step(std::int64_t epoch, std::int64_t first, std::int64_t count) override {
    StepOutcome out;
    const auto t0 = Clock::now();
    if (epoch != order_epoch_) {
      order_ = data::epoch_order(train_.size(), true, config_.seed, epoch);
      order_epoch_ = epoch;
    }
    const std::int64_t n = train_.size();
    const std::vector<std::int64_t> which(order_.begin() + first * config_.batch_size,
                                          order_.begin() + std::min(n, (first + count) * config_.batch_size));
    MaskedBatch batch = masked_batch(train_, which, config_.masking, config_.seed, epoch);
    out.data_seconds = seconds_since(t0);
    const double lr = optimizer_.groups().front().lr;
    const PretrainingLoss terms = pretraining_loss(model_, batch, config_.cls_bow_weight);
    out.loss = terms.total.item<double>();
    if (!std::isfinite(out.loss)) throw NonFiniteError("the loss is " + std::to_string(out.loss));
    terms.total.backward();
    const double grad_norm = optimizer_update(optimizer_, config_.max_grad_norm).grad_norm;
    out.examples = static_cast<std::int64_t>(which.size());
    out.record = Json{{"loss", out.loss}, {"grad_norm", grad_norm}, {"lr", lr}};
    if (terms.cls_bow.defined()) {
      out.record["mlm_loss"] = terms.mlm.item<double>();
      out.record["cls_bow_loss"] = terms.cls_bow.item<double>();
    }
    return out;
  }

  Json evaluate(std::int64_t epoch) override {
    const MlmEvalResult ev =
        evaluate_mlm(model_, heldout_, config_.eval_batch_size, config_.masking, eval_seed(config_), device_);
    log_info("epoch " + std::to_string(epoch + 1) + ": held-out MLM loss " + std::to_string(ev.loss) +
             ", perplexity " + std::to_string(ev.perplexity));
    return Json{{"eval_loss", ev.loss}, {"eval_perplexity", ev.perplexity}, {"eval_masked_tokens", ev.masked_tokens}};
  }

  // The same masked held-out set every epoch (seed fixed, epoch 0 of its own stream).
  static std::uint64_t eval_seed(const PretrainConfig& config) { return config.seed ^ 0x5eed0e7a1ULL; }

 private:
  model::DistilBertForMaskedLM& model_;
  optim::AdamW& optimizer_;
  const MlmBlocks& train_;
  const MlmBlocks& heldout_;
  const PretrainConfig& config_;
  torch::Device device_;
  std::vector<std::int64_t> order_;
  std::int64_t order_epoch_ = -1;
};

}  // namespace

RunResult Pretrainer::run() {
  RunDirectory dir(options_.runs_dir, run_config());
  const RunLock lock(dir);  // another process on this run: wait, then reuse or resume its work
  if (auto done = dir.summary()) return {dir.path(), *done, true};
  ensure_threads_configured();
  const torch::Device device = available_device(config_.device);

  model_->to(device);
  // run_mlm.py trains every parameter with the Trainer's decay groups (no decay on biases and
  // LayerNorm weights).
  optim::AdamW optimizer(optim::trainer_param_groups(optim::trainable_parameters(*model_),
                                                     config_.learning_rate, config_.weight_decay));
  torch::manual_seed(config_.seed);  // dropout stream; checkpoints carry its state

  PretrainingTask task(model_, optimizer, train_, heldout_, config_, device);
  const std::int64_t n = train_.size();
  const std::int64_t per_epoch = task.batches_per_epoch();
  // Trainer: with max_steps, num_train_epochs = ceil(max_steps / steps per epoch).
  LoopPlan plan;
  plan.max_steps = config_.max_steps > 0 ? config_.max_steps : per_epoch * config_.epochs;
  plan.epochs = (plan.max_steps + per_epoch - 1) / per_epoch;
  plan.bar_label = "pretrain";
  plan.bar_unit = "steps";
  optim::LinearSchedule schedule(plan.max_steps, config_.warmup_steps);

  const std::int64_t total_params = model::count_parameters(*model_);
  log_info("pretraining run " + dir.hash() + ": " + std::to_string(total_params) + " parameters, " +
           std::to_string(n) + " blocks of " + std::to_string(train_.block_size) + ", " +
           std::to_string(plan.max_steps) + " steps; record in " + dir.path().string());
  const TrainingProgress at = run_loop(task, dir, *model_, optimizer, schedule, plan, options_);

  const std::uint64_t eval_seed = PretrainingTask::eval_seed(config_);
  const MlmEvalResult unigram = unigram_baseline(train_, heldout_, config_.masking, eval_seed);
  Json summary = loop_summary(dir, at, config_.device);
  summary["unigram_baseline"] = eval_json(unigram);
  summary["eval_seed"] = eval_seed;
  summary["train_blocks"] = n;
  summary["heldout_blocks"] = heldout_.size();
  summary["block_size"] = train_.block_size;
  summary["train_steps_per_s"] = at.train_time > 0 ? double(at.global_step) / at.train_time : 0.0;
  summary["total_parameters"] = total_params;
  model_->to(torch::kCPU);
  model::save_pretrained(dir.path() / "final", model_);
  summary["final_dir"] = "final";
  return {dir.path(), dir.write_summary(summary), false};
}

void save_masked_lm(const fs::path& folder, const model::DistilBertForMaskedLM& model, torch::ScalarType dtype) {
  if (dtype != torch::kFloat32 && dtype != torch::kFloat16)
    throw ConfigError("unsupported dtype for a saved model", "save_masked_lm", "float32 or float16");
  model::save_pretrained(folder, model);
  if (dtype == torch::kFloat32) return;
  io::NamedTensors tensors = model::state_dict(*model);
  for (auto& [name, t] : tensors)
    if (t.is_floating_point()) t = t.to(torch::kCPU, torch::kFloat16);
  io::save_safetensors(folder / model::kWeightsFile, tensors, {{"format", "pt"}});
  // PretrainedConfig.save_pretrained records the dtype the weights were saved in.
  Json config = io::read_json(folder / model::kConfigFile);
  config["torch_dtype"] = "float16";
  io::write_file_atomic(folder / model::kConfigFile, config.dump(2) + "\n");
}

}  // namespace loraft::train
