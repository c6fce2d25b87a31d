#pragma once
/// @file
/// @brief The one training loop of loraft: fine-tuning (Trainer) and masked-LM pretraining
/// (Pretrainer) are tasks it drives.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "loraft/core/error.h"
#include "loraft/dist/process_group.h"
#include "loraft/io/json.h"
#include "loraft/optim/adamw.h"
#include "loraft/optim/schedule.h"
#include "loraft/train/training_checkpoint.h"
#include "loraft/train/run_directory.h"

namespace loraft::train {

/// How a run is carried out, without changing its result (not part of the run's hash).
struct RunOptions {
  std::filesystem::path runs_dir = "runs";  ///< where run folders go
  std::int64_t checkpoint_every = 0;        ///< optimizer steps between checkpoints (0: epoch ends only)
  std::int64_t keep_checkpoints = 2;        ///< newest checkpoints kept
  bool resume = true;                       ///< continue from the newest checkpoint if any
  bool progress = true;                     ///< progress bar on a terminal
  /// Stop (throw TrainingInterrupted) right after this optimizer step and its checkpoint, as
  /// if the process had been killed there; 0 disables. For testing resume.
  std::int64_t interrupt_after_steps = 0;
  /// The ranks of a data-parallel run (none: one process). Rank 0 alone writes the run folder
  /// (records, checkpoints, summary, final/) and shows progress; every rank reads the
  /// checkpoint it resumes from, so the runs folder must be one that all ranks see.
  std::shared_ptr<dist::ProcessGroup> group;
};

/// Raised when RunOptions::interrupt_after_steps is reached, or when SIGINT or SIGTERM asked
/// a single-process run to stop (after the step under way and its checkpoint).
class TrainingInterrupted : public Interrupted {
 public:
  using Interrupted::Interrupted;
};

/// Raised when the loss or the gradients stop being finite; the last checkpoint is kept.
class NonFiniteError : public Error {
 public:
  using Error::Error;
};

/// `e` restated for a run: at which epoch and step (1-based) it happened, and that the last
/// checkpoint in `checkpoint_dir` is kept.
NonFiniteError non_finite_in_run(const NonFiniteError& e, const std::filesystem::path& checkpoint_dir,
                                 std::int64_t epoch, std::int64_t step);

/// The outcome of a run (Trainer::run(), Pretrainer::run()).
struct RunResult {
  std::filesystem::path run_dir;  ///< the run folder
  io::Json summary;               ///< summary.json's content (on rank 0 of a data-parallel run)
  bool reused = false;            ///< the run had already finished: nothing was trained
  bool lead = true;               ///< false on the other ranks of a data-parallel run
};

/// What one optimizer step of a task did, for the loop's step record and bookkeeping.
struct StepOutcome {
  io::Json record = io::Json::object();  ///< the task's fields of the step record (loss, lr, ...)
  double loss = 0.0;                      ///< shown on the progress bar
  std::int64_t examples = 0;              ///< training examples the step consumed
  double data_seconds = 0.0;              ///< of the step's time, spent building its batches
  bool skipped = false;                   ///< no update (fp16 overflow): the schedule stays
};

/// What the loop drives: the task owns its batches, its step and its evaluation; the loop owns
/// everything around them.
class TrainingTask {
 public:
  virtual ~TrainingTask() = default;
  /// Micro-batches in every epoch.
  virtual std::int64_t batches_per_epoch() const = 0;
  /// One optimizer step over micro-batches [first, first + count) of `epoch` (0-based): build
  /// them, forward, backward, update. The schedule's learning rates are already applied.
  /// NonFiniteError (before any update) when the loss or the gradients stop being finite.
  virtual StepOutcome step(std::int64_t epoch, std::int64_t first, std::int64_t count) = 0;
  /// Evaluation at the end of an epoch: the eval record's fields (the task logs them).
  virtual io::Json evaluate(std::int64_t epoch) = 0;
  /// Puts state of the task's own into a checkpoint's progress (e.g. the fp16 loss scale).
  virtual void save_state(TrainingProgress& /*progress*/) const {}
  /// Restores what save_state() put there.
  virtual void load_state(const TrainingProgress& /*progress*/) {}
};

/// How many steps the loop takes and how it shows them.
struct LoopPlan {
  std::int64_t epochs = 1;        ///< epochs at most
  std::int64_t max_steps = 1;     ///< optimizer steps in all: the loop stops once they are done
  std::int64_t accumulation = 1;  ///< micro-batches per step (an epoch's last step may take fewer)
  std::string bar_label = "epoch";   ///< progress bar: "<label> i/n"
  std::string bar_unit = "batches";  ///< progress bar unit (micro-batches)
};

/// The training loop, as transformers 4.46.3 `Trainer._inner_training_loop` runs it:
///   resume from the newest checkpoint in `dir` (when options.resume), dropping records after it;
///   for each epoch, while steps remain: a step after every `accumulation` micro-batches and
///   after the epoch's last one (the schedule advances unless the step was skipped), a step
///   record, a checkpoint every options.checkpoint_every steps; then an evaluation, its record
///   and a checkpoint at the epoch's end.
/// Records carry `step` and a fractional `epoch` (epoch + micro-batches done / per epoch).
/// options.interrupt_after_steps stops the loop (TrainingInterrupted) right after that step
/// and its checkpoint, as a kill would. A NonFiniteError from a step is restated with its
/// epoch and step (non_finite_in_run). Returns the final progress, timings included.
TrainingProgress run_loop(TrainingTask& task, RunDirectory& dir, torch::nn::Module& model,
                          optim::AdamW& optimizer, optim::LinearSchedule& schedule, const LoopPlan& plan,
                          const RunOptions& options);

/// The summary fields every run shares: the eval records (`epochs`, `final`), `steps`, the
/// timings (`train_time_s`, the steps' wall total; `step_time_median_s` and
/// `train_time_robust_s` = steps x that median, which a disturbed minute on a shared machine
/// does not move; `eval_time_s`, `data_time_s`), peak memory, threads, `device` and the
/// versions.
io::Json loop_summary(const RunDirectory& dir, const TrainingProgress& progress, const std::string& device);

}  // namespace loraft::train
