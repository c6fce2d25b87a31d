#include "loraft/train/loop.h"

#include <algorithm>
#include <cmath>
#include <csignal>

#include "loraft/core/fault.h"
#include "loraft/core/progress.h"
#include "loraft/core/threads.h"
#include "loraft/core/timing.h"
#include "loraft/core/version.h"
#include "loraft/train/trainer.h"

namespace loraft::train {
namespace fs = std::filesystem;
using io::Json;

namespace {

TrainingInterrupted interrupted(const RunDirectory& dir, std::int64_t step, int signal = 0) {
  if (signal == 0)
    return TrainingInterrupted("stopped on request after step " + std::to_string(step), dir.path().string());
  return TrainingInterrupted(std::string("stopped by ") + (signal == SIGINT ? "SIGINT" : "SIGTERM") + " after step " +
                                 std::to_string(step) + ", its checkpoint saved",
                             dir.path().string(), "the same command again to resume", signal);
}

// SIGINT (Ctrl-C) and SIGTERM while a single process trains: the step under way finishes,
// a checkpoint is written and the run stops with TrainingInterrupted, so nothing is lost. The
// handlers are this object's while it lives. (Data-parallel ranks keep the default: each
// would stop at its own step; loraft-launch stops them all and they resume from the last
// checkpoint.)
volatile std::sig_atomic_t g_stop_signal = 0;

class StopOnSignal {
 public:
  explicit StopOnSignal(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    g_stop_signal = 0;
    old_int_ = std::signal(SIGINT, [](int s) { g_stop_signal = s; });
    old_term_ = std::signal(SIGTERM, [](int s) { g_stop_signal = s; });
  }
  ~StopOnSignal() {
    if (!enabled_) return;
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;
  /// The signal that asked to stop, or 0.
  int requested() const { return enabled_ ? static_cast<int>(g_stop_signal) : 0; }

 private:
  bool enabled_;
  void (*old_int_)(int) = SIG_DFL;
  void (*old_term_)(int) = SIG_DFL;
};

}  // namespace

NonFiniteError non_finite_in_run(const NonFiniteError& e, const fs::path& checkpoint_dir, std::int64_t epoch,
                                 std::int64_t step) {
  return NonFiniteError(e.problem() + "; the last checkpoint is kept in " + checkpoint_dir.string(),
                        "epoch " + std::to_string(epoch) + ", step " + std::to_string(step),
                        "finite values: lower the learning rate or check the data");
}

TrainingProgress run_loop(TrainingTask& task, RunDirectory& dir, torch::nn::Module& model,
                          optim::AdamW& optimizer, optim::LinearSchedule& schedule, const LoopPlan& plan,
                          const RunOptions& options) {
  // Data parallel: rank 0 alone writes the run folder; every rank reads its checkpoint.
  dist::ProcessGroup* group = options.group.get();
  const bool lead = group == nullptr || group->lead();
  TrainingProgress at;
  const bool resumed = options.resume && load_checkpoint(dir.checkpoint_dir(), model, optimizer, schedule, at);
  if (group != nullptr)
    group->check_agreement("the step resumed from (a runs folder every rank sees?)", std::to_string(at.global_step));
  if (resumed) task.load_state(at);
  if (lead) dir.truncate_metrics_after(at.global_step);
  auto save = [&](TrainingProgress progress) {
    if (!lead) return;
    task.save_state(progress);
    save_checkpoint(dir.checkpoint_dir(), model, optimizer, schedule, progress, options.keep_checkpoints);
  };

  const std::int64_t per_epoch = task.batches_per_epoch();
  const StopOnSignal stop(group == nullptr);
  model.train();
  for (; at.epoch < plan.epochs && at.global_step < plan.max_steps; ++at.epoch, at.next_batch = 0) {
    ProgressBar bar(plan.bar_label + " " + std::to_string(at.epoch + 1) + "/" + std::to_string(plan.epochs),
                    per_epoch - at.next_batch, plan.bar_unit);
    std::int64_t b = at.next_batch;
    while (b < per_epoch && at.global_step < plan.max_steps) {
      // An update after every `accumulation` micro-batches and after the epoch's last one.
      const std::int64_t group = std::min(plan.accumulation, per_epoch - b);
      const auto t0 = Clock::now();
      apply_schedule(optimizer, schedule);
      StepOutcome outcome;
      try {
        outcome = task.step(at.epoch, b, group);
      } catch (const NonFiniteError& e) {
        throw non_finite_in_run(e, dir.checkpoint_dir(), at.epoch + 1, at.global_step + 1);
      }
      if (!outcome.skipped) schedule.step();  // a skipped fp16 step leaves the schedule where it was
      ++at.global_step;
      b += group;
      at.next_batch = b;
      at.examples += outcome.examples;
      at.data_time += outcome.data_seconds;
      const double step_seconds = seconds_since(t0) - outcome.data_seconds;
      at.train_time += step_seconds;
      Json record{{"type", "step"},
                  {"step", at.global_step},
                  {"epoch", at.epoch + double(b) / double(per_epoch)},
                  {"step_time_s", step_seconds}};
      record.update(outcome.record);
      if (lead) dir.append_metrics(record);
      fault_point("step");
      bar.advance(group);
      bar.set_postfix("loss " + std::to_string(outcome.loss).substr(0, 6));
      const bool epoch_end = b == per_epoch || at.global_step == plan.max_steps;
      const bool interrupt = options.interrupt_after_steps == at.global_step || stop.requested() != 0;
      if (!epoch_end &&
          (interrupt || (options.checkpoint_every > 0 && at.global_step % options.checkpoint_every == 0)))
        save(at);
      if (interrupt && !epoch_end) throw interrupted(dir, at.global_step, stop.requested());
    }
    bar.finish();
    const auto t0 = Clock::now();
    Json record{{"type", "eval"}, {"step", at.global_step}, {"epoch", at.epoch + double(b) / double(per_epoch)}};
    record.update(task.evaluate(at.epoch));
    // A diverged model can train on finite losses and still evaluate to inf or NaN: such a
    // run fails here, before its record or checkpoint, instead of finishing with nulls.
    for (const auto& [key, value] : record.items())
      if (value.is_number_float() && !std::isfinite(value.get<double>()))
        throw non_finite_in_run(NonFiniteError("the evaluation's " + key + " is " + std::to_string(value.get<double>())),
                                dir.checkpoint_dir(), at.epoch + 1, at.global_step);
    at.eval_time += seconds_since(t0);
    if (lead) dir.append_metrics(record);
    TrainingProgress next = at;
    next.epoch = at.epoch + 1;
    next.next_batch = 0;
    save(next);
    if ((options.interrupt_after_steps == at.global_step || stop.requested() != 0) && next.epoch < plan.epochs &&
        at.global_step < plan.max_steps)
      throw interrupted(dir, at.global_step, stop.requested());
  }
  return at;
}

Json loop_summary(const RunDirectory& dir, const TrainingProgress& at, const std::string& device) {
  Json evals = Json::array();
  std::vector<double> step_times;
  for (const auto& m : dir.metrics()) {
    if (m.value("type", "") == "eval") evals.push_back(m);
    if (m.value("type", "") == "step" && m.contains("step_time_s")) step_times.push_back(m["step_time_s"]);
  }
  // Robust to a disturbed minute on a shared machine: steps x the median step's time (the
  // wall total, train_time_s, keeps every pause).
  double median = 0.0;
  if (!step_times.empty()) {
    auto mid = step_times.begin() + static_cast<std::ptrdiff_t>(step_times.size() / 2);
    std::nth_element(step_times.begin(), mid, step_times.end());
    median = *mid;
    if (step_times.size() % 2 == 0) median = (median + *std::max_element(step_times.begin(), mid)) / 2;
  }
  return Json{{"epochs", evals},
              {"final", evals.empty() ? Json(nullptr) : evals.back()},
              {"steps", at.global_step},
              {"train_time_s", at.train_time},
              {"step_time_median_s", median},
              {"train_time_robust_s", median * static_cast<double>(at.global_step)},
              {"eval_time_s", at.eval_time},
              {"data_time_s", at.data_time},
              {"peak_rss_mib", peak_rss_mib()},
              {"threads", num_threads()},
              {"device", device},
              {"loraft_version", version()},
              {"torch_version", torch_version()}};
}

}  // namespace loraft::train
