#include "loraft/train/pretrainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "loraft/core/log.h"
#include "loraft/core/progress.h"
#include "loraft/core/threads.h"
#include "loraft/core/version.h"
#include "loraft/io/file.h"
#include "loraft/io/safetensors.h"
#include "loraft/model/checkpoint.h"
#include "loraft/optim/param_groups.h"
#include "loraft/train/checkpoint.h"
#include "loraft/train/run_directory.h"

namespace loraft::train {
namespace fs = std::filesystem;
using io::Json;

Json PretrainConfig::to_json() const {
  Json j{{"learning_rate", learning_rate},
         {"weight_decay", weight_decay},
         {"epochs", epochs},
         {"max_steps", max_steps},
         {"batch_size", batch_size},
         {"eval_batch_size", eval_batch_size},
         {"warmup_steps", warmup_steps},
         {"max_grad_norm", max_grad_norm},
         {"seed", seed},
         {"mlm_probability", masking.mlm_probability},
         {"mask_token_id", masking.mask_token_id},
         {"vocab_size", masking.vocab_size},
         {"device", device}};
  if (cls_bow_weight > 0) j["cls_bow_weight"] = cls_bow_weight;
  return j;
}

void PretrainConfig::validate() const {
  require(learning_rate >= 0, "learning_rate", ">= 0");
  require(weight_decay >= 0, "weight_decay", ">= 0");
  require(epochs >= 1, "epochs", ">= 1");
  require(max_steps >= 0, "max_steps", ">= 0 (0: epochs decide)");
  require(batch_size >= 1, "batch_size", ">= 1");
  require(eval_batch_size >= 1, "eval_batch_size", ">= 1");
  require(warmup_steps >= 0, "warmup_steps", ">= 0");
  require(cls_bow_weight >= 0, "cls_bow_weight", ">= 0 (0: MLM alone)");
  require(max_grad_norm >= 0, "max_grad_norm", ">= 0 (0 disables clipping)");
  require(masking.mlm_probability > 0 && masking.mlm_probability < 1, "mlm_probability", "in (0, 1)");
  require(masking.vocab_size >= 1, "vocab_size", ">= 1");
  require(masking.mask_token_id >= 0 && masking.mask_token_id < masking.vocab_size, "mask_token_id",
       "an id of the vocabulary");
  parse_device(device);
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

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

RunResult Pretrainer::run() {
  RunDirectory dir(options_.runs_dir, run_config());
  if (auto done = dir.summary()) return {dir.path(), *done, true};
  ensure_threads_configured();
  const torch::Device device = available_device(config_.device);

  model_->to(device);
  // run_mlm.py trains every parameter with the Trainer's decay groups (no decay on biases and
  // LayerNorm weights).
  optim::AdamW optimizer(optim::trainer_param_groups(optim::trainable_parameters(*model_),
                                                     config_.learning_rate, config_.weight_decay));
  torch::manual_seed(config_.seed);  // dropout stream; checkpoints carry its state

  const std::int64_t n = train_.size();
  const std::int64_t per_epoch = (n + config_.batch_size - 1) / config_.batch_size;
  // Trainer: with max_steps, num_train_epochs = ceil(max_steps / steps per epoch).
  const std::int64_t total_steps = config_.max_steps > 0 ? config_.max_steps : per_epoch * config_.epochs;
  const std::int64_t epochs = (total_steps + per_epoch - 1) / per_epoch;
  optim::LinearSchedule schedule(total_steps, config_.warmup_steps);

  TrainingProgress at;
  if (options_.resume && load_checkpoint(dir.checkpoint_dir(), *model_, optimizer, schedule, at))
    dir.truncate_metrics_after(at.global_step);
  else
    dir.truncate_metrics_after(0);

  const std::int64_t total_params = model::count_parameters(*model_);
  log_info("pretraining run " + dir.hash() + ": " + std::to_string(total_params) + " parameters, " +
           std::to_string(n) + " blocks of " + std::to_string(train_.block_size) + ", " +
           std::to_string(total_steps) + " steps; record in " + dir.path().string());

  // The same masked held-out set every epoch (seed fixed, epoch 0 of its own stream).
  const std::uint64_t eval_seed = config_.seed ^ 0x5eed0e7a1ULL;
  model_->train();
  for (; at.epoch < epochs; ++at.epoch, at.next_batch = 0) {
    const std::vector<std::int64_t> order = data::epoch_order(n, true, config_.seed, at.epoch);
    const std::int64_t batches = std::min(per_epoch, total_steps - at.epoch * per_epoch);
    ProgressBar bar("pretrain " + std::to_string(at.epoch + 1) + "/" + std::to_string(epochs),
                    batches - at.next_batch, "steps");
    for (std::int64_t b = at.next_batch; b < batches; ++b) {
      auto t0 = std::chrono::steady_clock::now();
      const auto first = order.begin() + b * config_.batch_size;
      const std::vector<std::int64_t> which(first, order.begin() + std::min(n, (b + 1) * config_.batch_size));
      MaskedBatch batch = masked_batch(train_, which, config_.masking, config_.seed, at.epoch);
      at.data_time += seconds_since(t0);
      t0 = std::chrono::steady_clock::now();
      apply_schedule(optimizer, schedule);
      const double lr = optimizer.groups().front().lr;
      const PretrainingLoss terms = pretraining_loss(model_, batch, config_.cls_bow_weight);
      const torch::Tensor& loss = terms.total;
      const double loss_value = loss.item<double>();
      double grad_norm = 0;
      try {
        if (!std::isfinite(loss_value))
          throw NonFiniteError("the loss is " + std::to_string(loss_value));
        loss.backward();
        grad_norm = optimizer_update(optimizer, config_.max_grad_norm).grad_norm;
      } catch (const NonFiniteError& e) {
        throw non_finite_in_run(e, dir.checkpoint_dir(), at.epoch + 1, at.global_step + 1);
      }
      schedule.step();
      ++at.global_step;
      at.next_batch = b + 1;
      at.train_time += seconds_since(t0);
      Json record{{"type", "step"},
                  {"step", at.global_step},
                  {"epoch", at.epoch + double(b + 1) / double(per_epoch)},
                  {"loss", loss_value},
                  {"grad_norm", grad_norm},
                  {"lr", lr}};
      if (terms.cls_bow.defined()) {
        record["mlm_loss"] = terms.mlm.item<double>();
        record["cls_bow_loss"] = terms.cls_bow.item<double>();
      }
      dir.append_metrics(record);
      bar.advance();
      bar.set_postfix("loss " + std::to_string(loss_value).substr(0, 6));
      const bool epoch_end = b + 1 == batches;
      const bool interrupt = options_.interrupt_after_steps == at.global_step;
      if (!epoch_end && (interrupt || (options_.checkpoint_every > 0 &&
                                       at.global_step % options_.checkpoint_every == 0)))
        save_checkpoint(dir.checkpoint_dir(), *model_, optimizer, schedule, at, options_.keep_checkpoints);
      if (interrupt && !epoch_end)
        throw TrainingInterrupted("stopped on request after step " + std::to_string(at.global_step),
                                  dir.path().string());
    }
    bar.finish();
    auto t0 = std::chrono::steady_clock::now();
    MlmEvalResult ev = evaluate_mlm(model_, heldout_, config_.eval_batch_size, config_.masking, eval_seed, device);
    at.eval_time += seconds_since(t0);
    dir.append_metrics(Json{{"type", "eval"},
                            {"step", at.global_step},
                            {"epoch", at.epoch + 1},
                            {"eval_loss", ev.loss},
                            {"eval_perplexity", ev.perplexity},
                            {"eval_masked_tokens", ev.masked_tokens}});
    log_info("epoch " + std::to_string(at.epoch + 1) + ": held-out MLM loss " + std::to_string(ev.loss) +
             ", perplexity " + std::to_string(ev.perplexity));
    TrainingProgress next = at;
    next.epoch = at.epoch + 1;
    next.next_batch = 0;
    save_checkpoint(dir.checkpoint_dir(), *model_, optimizer, schedule, next, options_.keep_checkpoints);
    if (options_.interrupt_after_steps == at.global_step && next.epoch < epochs)
      throw TrainingInterrupted("stopped on request after step " + std::to_string(at.global_step),
                                dir.path().string());
  }

  Json evals = Json::array();
  for (const auto& m : dir.metrics())
    if (m.value("type", "") == "eval") evals.push_back(m);
  const MlmEvalResult unigram = unigram_baseline(train_, heldout_, config_.masking, eval_seed);
  Json summary{{"epochs", evals},
               {"final", evals.empty() ? Json(nullptr) : evals.back()},
               {"unigram_baseline", eval_json(unigram)},
               {"eval_seed", eval_seed},
               {"steps", at.global_step},
               {"train_blocks", n},
               {"heldout_blocks", heldout_.size()},
               {"block_size", train_.block_size},
               {"train_time_s", at.train_time},
               {"eval_time_s", at.eval_time},
               {"data_time_s", at.data_time},
               {"train_steps_per_s", at.train_time > 0 ? double(at.global_step) / at.train_time : 0.0},
               {"total_parameters", total_params},
               {"peak_rss_mib", peak_rss_mib()},
               {"threads", num_threads()},
               {"device", config_.device},
               {"loraft_version", version()},
               {"torch_version", torch_version()}};
  model_->to(torch::kCPU);
  model::save_pretrained(dir.path() / "final", model_);
  summary["final_dir"] = "final";
  dir.write_summary(summary);
  return {dir.path(), summary, false};
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
