#include "loraft/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "loraft/adapter/ia3.h"
#include "loraft/adapter/lora.h"
#include "loraft/adapter/peft_io.h"
#include "loraft/adapter/prompt_tuning.h"
#include "loraft/core/fault.h"
#include "loraft/core/hash.h"
#include "loraft/core/log.h"
#include "loraft/core/progress.h"
#include "loraft/core/threads.h"
#include "loraft/core/timing.h"
#include "loraft/core/version.h"
#include "loraft/io/file.h"
#include "loraft/io/safetensors.h"
#include "loraft/model/pretrained.h"
#include "loraft/optim/clip.h"
#include "loraft/train/training_checkpoint.h"
#include "loraft/train/run_directory.h"

namespace loraft::train {
namespace fs = std::filesystem;
using io::Json;

// ----- configuration -------------------------------------------------------------------------

const char* to_string(Method method) {
  switch (method) {
    case Method::full: return "full";
    case Method::lora: return "lora";
    case Method::loraplus: return "loraplus";
    case Method::dora: return "dora";
    case Method::ia3: return "ia3";
    case Method::prompt: return "prompt";
    case Method::adapter: return "adapter";
  }
  return "?";
}

Method parse_method(const std::string& name) {
  for (Method m : {Method::full, Method::lora, Method::loraplus, Method::dora, Method::ia3, Method::prompt,
                   Method::adapter})
    if (name == to_string(m)) return m;
  throw ConfigError("unknown method \"" + name + "\"", "method", "full, lora, loraplus, dora, ia3, prompt or adapter");
}

bool uses_lora(Method method) {
  return method == Method::lora || method == Method::loraplus || method == Method::dora;
}

const char* to_string(DropoutSeeding seeding) {
  return seeding == DropoutSeeding::per_batch ? "per_batch" : "stream";
}

DropoutSeeding parse_dropout_seeding(const std::string& name, const std::string& where) {
  if (name == "stream") return DropoutSeeding::stream;
  if (name == "per_batch") return DropoutSeeding::per_batch;
  throw ConfigError("unknown dropout seeding \"" + name + "\"", where, "stream or per_batch");
}

std::uint64_t micro_batch_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t position) {
  return keyed_seed(seed, epoch, position);
}

Json TrainConfig::to_json() const { return io::settings_to_json(*this); }

TrainConfig TrainConfig::from_json(const Json& j, const std::string& where) {
  TrainConfig c = io::settings_from_json<TrainConfig>(j, where);
  c.validate();
  return c;
}

void TrainConfig::validate() const {
  io::validate_settings(*this);
  check_autocast(autocast, parse_device(device));
  if (uses_lora(method)) lora.validate();
  if (method == Method::ia3) ia3.validate();
  if (method == Method::prompt) prompt.validate();
  if (method == Method::adapter) bottleneck.validate();
  if (lora.use_dora && method != Method::dora)
    throw ConfigError("lora.use_dora is set, but the method is " + std::string(to_string(method)),
                      "TrainConfig.lora.use_dora", "method dora (which sets it), lora.use_dora false");
}

adapter::LoraConfig TrainConfig::lora_config() const {
  adapter::LoraConfig c = lora;
  c.use_dora = method == Method::dora;
  return c;
}

std::vector<std::string> TrainConfig::modules_to_save() const {
  switch (method) {
    case Method::full:
    case Method::adapter: return {};
    case Method::ia3: return ia3.modules_to_save;
    case Method::prompt: return prompt.modules_to_save;
    default: return lora.modules_to_save;
  }
}

// ----- steps and evaluation ------------------------------------------------------------------

std::vector<optim::ParamGroup> prepare_model(model::DistilBertForSequenceClassification& model,
                                             const TrainConfig& config,
                                             const std::vector<std::int64_t>& prompt_init_ids) {
  if (uses_lora(config.method)) adapter::apply_lora(*model, config.lora_config(), config.seed);
  if (config.method == Method::ia3) adapter::apply_ia3(*model, config.ia3);
  if (config.method == Method::prompt)
    adapter::apply_prompt_tuning(*model, config.prompt, config.seed, prompt_init_ids);
  if (config.method == Method::adapter) adapter::apply_bottleneck(*model, config.bottleneck, config.seed);
  auto params = optim::trainable_parameters(*model);
  // All but LoRA+: the Trainer's groups. DoRA's magnitude vectors, IA3's vectors, the virtual
  // tokens and the bottleneck weights decay (their biases do not), as transformers 4.46.3 Trainer.get_decay_parameter_names decides (no
  // LayerNorm, no "bias" in the name; the groups of the reference in methods/*/train/train.json).
  if (config.method != Method::loraplus)
    return optim::trainer_param_groups(params, config.learning_rate, config.weight_decay);
  optim::LoraPlusOptions o;
  o.lr = config.learning_rate;
  o.ratio = config.loraplus_ratio;
  o.lr_embedding = config.loraplus_lr_embedding;
  o.loraplus_weight_decay = 0.0;  // PEFT's default, which the report's call kept
  o.weight_decay = config.weight_decay;
  o.decay = config.loraplus_decay;
  return optim::loraplus_param_groups(params, o);
}

void apply_schedule(optim::AdamW& optimizer, const optim::LinearSchedule& schedule) {
  for (auto& g : optimizer.groups()) g.lr = g.initial_lr * schedule.factor();
}

StepResult train_step(model::DistilBertForSequenceClassification& model, optim::AdamW& optimizer,
                      const std::vector<data::Batch>& micro_batches, const StepOptions& options) {
  const torch::Device device = optimizer.parameters().empty()
                                   ? torch::Device(torch::kCPU)
                                   : optimizer.parameters().front().device();
  StepResult r;
  for (const data::Batch& batch : micro_batches) {
    const std::int64_t rows = batch.labels.size(0);
    if (rows == 0) continue;  // a rank's empty part of a short last batch
    if (options.dropout_seed) torch::manual_seed(micro_batch_seed(*options.dropout_seed, batch.epoch, batch.position));
    torch::Tensor loss;
    {
      AutocastGuard autocast(options.autocast, device);
      torch::Tensor logits =
          model->forward(batch.input_ids.to(device), batch.attention_mask.to(device));
      // DistilBertForSequenceClassification.forward, single_label_classification:
      // CrossEntropyLoss() (computed in float32 also under autocast). A rank's part of a
      // batch: its share of the whole batch's mean.
      if (batch.whole_rows > rows)
        loss = torch::nn::functional::cross_entropy(
                   logits.to(torch::kFloat32), batch.labels.to(device),
                   torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) /
               static_cast<double>(batch.whole_rows);
      else
        loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), batch.labels.to(device));
    }
    if (fault_here("nan-loss")) loss = loss + std::numeric_limits<double>::quiet_NaN();
    const double value = loss.item<double>();
    // With several ranks a non-finite loss is found after the collective, by all of them.
    if (!std::isfinite(value) && options.group == nullptr) {
      optimizer.zero_grad();
      throw NonFiniteError("the loss is " + std::to_string(value));
    }
    r.loss += value / static_cast<double>(micro_batches.size());
    // accelerate's Accelerator.backward: loss / gradient_accumulation_steps, then the
    // GradScaler's scale (transformers 4.46.3 passes num_steps to accelerate's plugin).
    torch::Tensor scaled = loss / static_cast<double>(options.accumulation_steps);
    if (options.scaler != nullptr) scaled = options.scaler->scale_loss(scaled);
    scaled.backward();
  }
  if (options.group != nullptr) {
    std::vector<double> loss{r.loss};
    const data::Batch& first = micro_batches.front();
    dist::all_reduce_gradients(*options.group, optimizer.parameters(), loss,
                               "the gradient sum of the step from row " + std::to_string(first.position) +
                                   " of epoch " + std::to_string(first.epoch + 1));
    r.loss = loss[0];
    if (!std::isfinite(r.loss)) {
      optimizer.zero_grad();
      throw NonFiniteError("the loss is " + std::to_string(r.loss));
    }
  }
  if (fault_here("nan-gradient")) {
    const torch::Tensor last = optimizer.groups().back().params.back().tensor;
    if (last.grad().defined()) {
      torch::NoGradGuard no_grad;
      last.grad().view(-1)[0].fill_(std::numeric_limits<double>::quiet_NaN());
    }
  }
  const UpdateResult u = optimizer_update(optimizer, options.max_grad_norm, options.scaler);
  r.grad_norm = u.grad_norm;
  r.skipped = u.skipped;
  return r;
}

UpdateResult optimizer_update(optim::AdamW& optimizer, double max_grad_norm,
                              optim::GradScaler* scaler) {
  auto params = optimizer.parameters();
  const bool found_inf = scaler != nullptr && scaler->unscale(params);
  UpdateResult r;
  r.grad_norm = max_grad_norm > 0 ? optim::clip_grad_norm(params, max_grad_norm)
                                  : optim::grad_norm(params);
  if (found_inf) {
    // GradScaler.step skips the optimizer; update() backs the scale off.
    r.skipped = true;
    optimizer.zero_grad();
    scaler->update(true);
    return r;
  }
  if (!std::isfinite(r.grad_norm)) {
    // clip_grad_norm leaves non-finite gradients unscaled: the first one can be named.
    std::string where;
    for (const auto& group : optimizer.groups())
      for (const auto& p : group.params)
        if (where.empty() && p.tensor.grad().defined() && !torch::isfinite(p.tensor.grad()).all().item<bool>())
          where = " (" + p.name + " is the first parameter whose gradient holds it)";
    optimizer.zero_grad();
    throw NonFiniteError("the gradient norm is " + std::to_string(r.grad_norm) + where);
  }
  optimizer.step();
  if (scaler != nullptr) scaler->update(false);
  optimizer.zero_grad();
  return r;
}

EvalResult evaluate(model::DistilBertForSequenceClassification& model, const data::TokenRows& rows,
                    std::int64_t batch_size, data::Padding padding, std::int64_t max_length,
                    const torch::Device& device, Autocast autocast, dist::ProcessGroup* group) {
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  data::BatchOptions o;
  o.batch_size = batch_size;
  o.padding = padding;
  o.max_length = max_length;
  o.pad_id = static_cast<std::int32_t>(model->config.pad_token_id);
  data::Batcher batches(rows, o);
  const std::int64_t classes = model->config.num_labels();
  std::vector<std::int64_t> tp(classes, 0), fp(classes, 0), fn(classes, 0);
  std::vector<bool> seen(classes, false);
  double loss_sum = 0.0;
  std::int64_t correct = 0;
  const std::int64_t stride = group != nullptr ? group->size() : 1;
  for (std::int64_t b = group != nullptr ? group->rank() : 0; b < batches.num_batches(); b += stride) {
    data::Batch batch = batches.batch(0, b);
    torch::Tensor logits;
    {
      AutocastGuard guard(autocast, device);
      logits = model->forward(batch.input_ids.to(device), batch.attention_mask.to(device));
    }
    logits = logits.to(torch::kCPU, torch::kFloat32);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, batch.labels,
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    fault_point("evaluation");
    torch::Tensor pred = logits.argmax(1);
    auto p = pred.accessor<std::int64_t, 1>();
    auto y = batch.labels.accessor<std::int64_t, 1>();
    for (std::int64_t i = 0; i < pred.size(0); ++i) {
      if (y[i] < 0 || y[i] >= classes)
        throw FormatError("label " + std::to_string(y[i]) + " out of range", "evaluation rows",
                          "labels 0.." + std::to_string(classes - 1));
      seen[y[i]] = seen[p[i]] = true;
      if (p[i] == y[i]) {
        ++correct;
        ++tp[y[i]];
      } else {
        ++fp[p[i]];
        ++fn[y[i]];
      }
    }
  }
  if (was_training) model->train();
  if (group != nullptr) {
    // [loss_sum, correct, tp, fp, fn, seen] summed over the ranks, in float64 (exact counts).
    std::vector<double> sums{loss_sum, static_cast<double>(correct)};
    for (const auto* v : {&tp, &fp, &fn}) sums.insert(sums.end(), v->begin(), v->end());
    for (std::int64_t c = 0; c < classes; ++c) sums.push_back(seen[c] ? 1.0 : 0.0);
    torch::Tensor t = torch::tensor(sums, torch::kFloat64);
    group->all_reduce_sum(t, "the evaluation's sums");
    const auto a = t.accessor<double, 1>();
    loss_sum = a[0];
    correct = static_cast<std::int64_t>(a[1]);
    for (std::int64_t c = 0; c < classes; ++c) {
      tp[c] = static_cast<std::int64_t>(a[2 + c]);
      fp[c] = static_cast<std::int64_t>(a[2 + classes + c]);
      fn[c] = static_cast<std::int64_t>(a[2 + 2 * classes + c]);
      seen[c] = a[2 + 3 * classes + c] > 0;
    }
  }
  EvalResult r;
  r.examples = rows.size();
  if (r.examples == 0) return r;
  r.loss = loss_sum / static_cast<double>(r.examples);
  r.accuracy = static_cast<double>(correct) / static_cast<double>(r.examples);
  // sklearn f1_score(average="macro"): classes present in labels or predictions.
  double f1_sum = 0.0;
  std::int64_t present = 0;
  for (std::int64_t c = 0; c < classes; ++c) {
    if (!seen[c]) continue;
    ++present;
    const double denom = 2.0 * tp[c] + fp[c] + fn[c];
    f1_sum += denom > 0 ? 2.0 * tp[c] / denom : 0.0;
  }
  r.macro_f1 = present > 0 ? f1_sum / present : 0.0;
  return r;
}



// ----- the run --------------------------------------------------------------------------------

namespace {

// Fine-tuning as the loop's task: shuffled micro-batches of the rows, train_step(), evaluate().
class FineTuningTask : public TrainingTask {
 public:
  FineTuningTask(model::DistilBertForSequenceClassification& model, optim::AdamW& optimizer,
                 const data::Batcher& batches, const data::TokenRows& eval, const TrainConfig& config,
                 const torch::Device& device, dist::ProcessGroup* group)
      : model_(model),
        optimizer_(optimizer),
        batches_(batches),
        eval_(eval),
        config_(config),
        device_(device),
        group_(group) {
    if (config.autocast == Autocast::fp16) scaler_.emplace();
    options_.max_grad_norm = config.max_grad_norm;
    options_.accumulation_steps = config.gradient_accumulation_steps;
    options_.autocast = config.autocast;
    options_.scaler = scaler_ ? &*scaler_ : nullptr;
    options_.group = group_;
    if (config.dropout_seeding == DropoutSeeding::per_batch) options_.dropout_seed = config.seed;
  }

  std::int64_t batches_per_epoch() const override { return batches_.num_batches(); }

  StepOutcome step(std::int64_t epoch, std::int64_t first, std::int64_t count) override {
    StepOutcome out;
    const auto t0 = Clock::now();
    std::vector<data::Batch> micro_batches;
    for (std::int64_t i = 0; i < count; ++i)
      micro_batches.push_back(group_ != nullptr ? batches_.part(epoch, first + i, group_->rank(), group_->size())
                                                : batches_.batch(epoch, first + i));
    out.data_seconds = seconds_since(t0);
    Json lrs = Json::array();
    for (const auto& g : optimizer_.groups()) lrs.push_back(g.lr);
    const StepResult r = train_step(model_, optimizer_, micro_batches, options_);
    for (const auto& mb : micro_batches) out.examples += group_ != nullptr ? mb.whole_rows : mb.labels.size(0);
    out.loss = r.loss;
    out.skipped = r.skipped;
    out.record = Json{{"loss", r.loss}, {"grad_norm", r.grad_norm}, {"lr", lrs}};
    if (scaler_) {
      out.record["loss_scale"] = scaler_->scale();
      out.record["skipped"] = r.skipped;
    }
    return out;
  }

  Json evaluate(std::int64_t epoch) override {
    const EvalResult ev = train::evaluate(model_, eval_, config_.eval_batch_size, config_.padding,
                                          config_.max_length, device_, config_.autocast, group_);
    log_info("epoch " + std::to_string(epoch + 1) + ": eval loss " + std::to_string(ev.loss) + ", accuracy " +
             std::to_string(ev.accuracy));
    return Json{{"eval_loss", ev.loss},
                {"eval_accuracy", ev.accuracy},
                {"eval_macro_f1", ev.macro_f1},
                {"eval_examples", ev.examples}};
  }

  void save_state(TrainingProgress& p) const override {
    if (!scaler_) return;
    p.loss_scale = scaler_->scale();
    p.loss_scale_growth_tracker = scaler_->growth_tracker();
  }

  void load_state(const TrainingProgress& p) override {
    if (scaler_ && p.loss_scale > 0) scaler_->set_state(p.loss_scale, p.loss_scale_growth_tracker);
  }

 private:
  model::DistilBertForSequenceClassification& model_;
  optim::AdamW& optimizer_;
  const data::Batcher& batches_;
  const data::TokenRows& eval_;
  const TrainConfig& config_;
  torch::Device device_;
  dist::ProcessGroup* group_;
  std::optional<optim::GradScaler> scaler_;
  StepOptions options_;
};

}  // namespace

Trainer::Trainer(model::DistilBertForSequenceClassification model, const data::TokenRows& train,
                 const data::TokenRows& eval, TrainConfig config, Json identity, RunOptions options)
    : model_(std::move(model)),
      train_(train),
      eval_(eval),
      config_(std::move(config)),
      identity_(std::move(identity)),
      options_(std::move(options)) {
  config_.validate();
  train_.validate("training rows");
  eval_.validate("evaluation rows");
  if (train_.size() == 0) throw ConfigError("no training rows", "Trainer", "at least one row");
  const std::int64_t positions = model_->config.max_position_embeddings;
  // Prompt tuning's virtual tokens take the first positions (PEFT passes no position ids).
  const std::int64_t virtual_tokens = config_.method == Method::prompt ? config_.prompt.num_virtual_tokens : 0;
  if (config_.max_length + virtual_tokens > positions)
    throw ConfigError("max_length " + std::to_string(config_.max_length) +
                          (virtual_tokens > 0 ? " + " + std::to_string(virtual_tokens) + " virtual tokens" : "") +
                          " exceeds the model's max_position_embeddings " + std::to_string(positions),
                      "TrainConfig.max_length", "at most " + std::to_string(positions - virtual_tokens));
  const std::int64_t vocab = model_->config.vocab_size;
  for (const data::TokenRows* rows : {&train_, &eval_}) {
    const char* which = rows == &train_ ? "training rows" : "evaluation rows";
    for (std::int64_t i = 0; i < rows->size(); ++i)
      if (rows->length(i) > config_.max_length)
        throw ConfigError("row " + std::to_string(i) + " has " + std::to_string(rows->length(i)) +
                              " tokens, more than max_length",
                          which, "rows tokenised with the run's max_length");
    // Checked here once, so that the forward needs no check (and no device sync) on a GPU.
    const auto [lo, hi] = std::minmax_element(rows->ids.begin(), rows->ids.end());
    if (lo != rows->ids.end() && (*lo < 0 || *hi >= vocab))
      throw ConfigError("token id " + std::to_string(*lo < 0 ? *lo : *hi) + " is outside the model's vocabulary",
                        which, "0 <= id < vocab_size " + std::to_string(vocab));
    const std::int64_t classes = model_->config.num_labels();
    for (std::int64_t i = 0; i < rows->size(); ++i)
      if (rows->labels[static_cast<std::size_t>(i)] < 0 || rows->labels[static_cast<std::size_t>(i)] >= classes)
        throw ConfigError("row " + std::to_string(i) + " has label " + std::to_string(rows->labels[static_cast<std::size_t>(i)]),
                          which, "labels 0.." + std::to_string(classes - 1) + " for the model's " +
                                     std::to_string(classes) + " classes");
  }
}

Json Trainer::run_config() const {
  return Json{{"train", config_.to_json()}, {"identity", identity_}, {"loraft_version", version()}};
}

RunResult Trainer::run() {
  if (config_.method == Method::prompt && config_.prompt.prompt_tuning_init == adapter::PromptInit::text &&
      prompt_init_ids_.empty())
    throw ConfigError("prompt tuning with text initialisation, but no token ids of the init text",
                      "Trainer", "Trainer::set_prompt_init_ids() with the tokenizer's ids of prompt_tuning_init_text");
  dist::ProcessGroup* group = options_.group.get();
  if (group != nullptr && group->size() > 1 && config_.dropout_seeding != DropoutSeeding::per_batch)
    throw ConfigError("data-parallel training with dropout_seeding stream", "TrainConfig.dropout_seeding",
                      "per_batch (--dropout-seeding per_batch), so that dropout does not depend on the ranks");
  // Rank 0 makes the folder first; a rank whose configuration, model or data differ stops
  // here, before anything trains.
  if (group != nullptr && !group->lead()) group->barrier("creating the run folder");
  RunDirectory dir(options_.runs_dir, run_config());
  if (group != nullptr && group->lead()) group->barrier("creating the run folder");
  if (group != nullptr) group->check_agreement("the run configuration's hash", dir.hash());
  std::optional<RunLock> lock;  // another process on this run: wait, then reuse or resume its work
  if (group == nullptr || group->lead()) lock.emplace(dir);
  std::optional<Json> done = dir.summary();
  if (group != nullptr) group->check_agreement("whether the run has finished", done ? "finished" : "not finished");
  if (done) return {dir.path(), *done, true, group == nullptr || group->lead()};
  ensure_threads_configured();
  torch::Device device = available_device(config_.device);
  // Data parallel on GPUs: each rank on its own (LOCAL_RANK), whatever index the shared
  // configuration names.
  if (group != nullptr && device.is_cuda()) device = group->device();

  auto groups = prepare_model(model_, config_, prompt_init_ids_);
  model_->to(device);
  optim::AdamW optimizer(std::move(groups));
  torch::manual_seed(config_.seed);  // dropout stream; checkpoints carry its state

  data::BatchOptions bo;
  bo.batch_size = config_.batch_size;
  bo.max_length = config_.max_length;
  bo.padding = config_.padding;
  bo.shuffle = true;
  bo.seed = config_.seed;
  bo.pad_id = static_cast<std::int32_t>(model_->config.pad_token_id);
  data::Batcher batches(train_, bo);
  // transformers 4.46.3 Trainer: num_update_steps_per_epoch = max(len_dataloader // gas, 1),
  // max_steps = epochs * that; training stops once global_step reaches max_steps.
  LoopPlan plan;
  plan.epochs = config_.epochs;
  plan.accumulation = config_.gradient_accumulation_steps;
  plan.max_steps = std::max<std::int64_t>(batches.num_batches() / plan.accumulation, 1) * config_.epochs;
  optim::LinearSchedule schedule(plan.max_steps, config_.warmup_steps);

  const std::int64_t trainable = model::count_parameters(*model_, /*trainable_only=*/true);
  const std::int64_t total = model::count_parameters(*model_);
  log_info(std::string("run ") + dir.hash() + ": " + to_string(config_.method) + ", " +
           std::to_string(trainable) + " of " + std::to_string(total) + " parameters train, " +
           std::to_string(plan.max_steps) + " steps" +
           (group != nullptr ? " on " + std::to_string(group->size()) + " ranks (" + group->backend() + ")" : "") +
           "; record in " + dir.path().string());

  FineTuningTask task(model_, optimizer, batches, eval_, config_, device, group);
  const TrainingProgress at = run_loop(task, dir, *model_, optimizer, schedule, plan, options_);
  if (group != nullptr && !group->lead()) return {dir.path(), Json{{"rank", group->rank()}}, false, false};

  Json summary = loop_summary(dir, at, config_.device);
  summary["method"] = to_string(config_.method);
  if (group != nullptr) summary["world_size"] = group->size();
  summary["train_examples"] = at.examples;
  summary["train_samples_per_s"] = at.train_time > 0 ? double(at.examples) / at.train_time : 0.0;
  summary["trainable_parameters"] = trainable;
  summary["total_parameters"] = total;
  if (config_.method != Method::full) {
    auto counts = adapter::peft_parameter_counts(*model_, config_.modules_to_save());
    summary["peft_trainable_parameters"] = counts.trainable;
    summary["peft_all_parameters"] = counts.all;
  }
  if (config_.method == Method::loraplus)
    summary["loraplus_decay"] = optim::to_string(config_.loraplus_decay);
  // The trained result in the formats users load elsewhere: a PEFT adapter folder, or a
  // transformers checkpoint folder for full fine-tuning.
  const fs::path final_dir = dir.path() / "final";
  model_->to(torch::kCPU);
  if (config_.method == Method::full)
    model::save_pretrained(final_dir, model_);
  else if (config_.method == Method::ia3)
    adapter::save_ia3_adapter(final_dir, *model_, config_.ia3);
  else if (config_.method == Method::prompt)
    adapter::save_prompt_adapter(final_dir, *model_, config_.prompt);
  else if (config_.method == Method::adapter)
    adapter::save_bottleneck_adapter(final_dir, *model_, config_.bottleneck);
  else
    adapter::save_adapter(final_dir, *model_, config_.lora_config());
  summary["final_dir"] = "final";
  return {dir.path(), dir.write_summary(summary), false};
}

}  // namespace loraft::train
