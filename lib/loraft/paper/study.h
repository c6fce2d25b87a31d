#pragma once
/// @file
/// @brief What every figure and table program of the paper does: resolve the runs it needs
/// (a finished run is reused from the run folder named by its configuration's hash, an
/// interrupted one resumes, a missing one trains), write its results as CSV, draw its figure
/// with gnuplot (PDF for the paper, PNG for reading) and record a manifest of what it used.

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "loraft/analysis/stats.h"
#include "loraft/core/timing.h"
#include "loraft/paper/profile.h"
#include "loraft/paper/table.h"

namespace loraft::paper {

/// Where a study reads and writes.
struct PaperPaths {
  std::filesystem::path root = ".";    ///< project root (profiles, data, models)
  std::filesystem::path out = "paper/build";  ///< results/ and figures/ go here
  std::filesystem::path runs;          ///< run folders (default: OUT/runs)
  std::filesystem::path cache;         ///< token caches (default: the library's default)
  std::filesystem::path trainer;       ///< the loraft-train program that trains each run in a child process
  /// `out`/results: CSV tables, LaTeX tables and manifests.
  std::filesystem::path results() const { return out / "results"; }
  /// `out`/figures: PDF and PNG figures.
  std::filesystem::path figures() const { return out / "figures"; }
  /// The run folders' parent.
  std::filesystem::path runs_dir() const { return runs.empty() ? out / "runs" : runs; }
};

/// Part `index` (1-based) of `count` disjoint parts of a profile's runs, so that `count`
/// machines share a sweep (`--shard i/n`, `make paper SHARD=i/n`). A run belongs to the part
/// its data set and training configuration hash to, the same in every program, so a run two
/// figures share trains once. Merging the parts' run folders (copying them together) gives
/// what one machine would have: `make paper` then trains nothing.
struct Shard {
  int index = 1;  ///< this part, 1..count
  int count = 1;  ///< parts in all (1: no sharding)
  /// "i/n"; ConfigError naming `where` unless 1 <= i <= n.
  static Shard parse(const std::string& text, const std::string& where);
  /// Whether the run of `config` on `data` belongs to this part.
  bool owns(const std::string& data, const train::TrainConfig& config) const;
};

/// One resolved fine-tuning run of a study.
struct Run {
  std::string label;             ///< the study's name for it ("lora", "r=8", "ratio 16 corrected")
  std::string data;              ///< the profile's data set ("imdb", "ag_news")
  train::TrainConfig config;     ///< its configuration
  std::filesystem::path run_dir; ///< its run folder
  io::Json summary;              ///< the run folder's summary.json
  bool reused = false;           ///< finished before this study asked for it
  bool pending = false;          ///< left to another shard, or failed: no results (summary without epochs)
  double wall_s = 0.0;           ///< seconds this study spent on it (0 when reused)

  /// The run folder's name: the hash of everything that determines the result.
  std::string hash() const { return run_dir.filename().string(); }
  /// A number of the final evaluation (eval_accuracy, eval_loss, ...).
  double final_metric(const std::string& key) const;
  /// A number of the summary itself (train_time_s, trainable_parameters, peak_rss_mib, ...).
  double metric(const std::string& key) const;
  /// Seconds of training that a disturbed minute on a shared machine does not move: steps x
  /// the median step's time (`train_time_robust_s`); the wall total for runs recorded before
  /// that measure existed. What the figures and claims plot; the CSVs of runs keep the wall total.
  double train_seconds() const;
};

/// The 95% interval over seeds of `metric` for every run in `runs` (analysis::t_interval).
analysis::SeedSummary over_seeds(const std::vector<const Run*>& runs,
                                 const std::function<double(const Run&)>& metric);

/// One figure or table program's work. Outputs, all under PaperPaths::out:
/// `results/NAME.csv` (one row per run and evaluated epoch, the numbers taken from the run
/// folders), further `results/NAME_PART.csv` tables that the figure plots,
/// `results/NAME.manifest.json` and `figures/NAME.pdf|png`.
class Study {
 public:
  /// @param name     the program's name (fig1_imdb, table2_results, ...)
  /// @param profile  the loaded profile
  /// @param paths    where to read and write
  /// @param shard    the part of the runs this process trains; with more than one part the
  ///                 study trains its runs only and writes no results, figures or manifest
  Study(std::string name, Profile profile, PaperPaths paths, Shard shard = {});

  /// The profile.
  const Profile& profile() const { return profile_; }
  /// The paths.
  const PaperPaths& paths() const { return paths_; }

  /// The run of `config` on the profile's data set `data`, reused, resumed or trained now
  /// by a child `loraft-train` (PaperPaths::trainer), so that its peak memory is its own and a
  /// crash ends that run alone (or, in a shard that does not own it or when the child fails, a
  /// pending Run: a failed one makes finish() throw once every run was tried). Runs are recorded in the manifest in
  /// the order they are asked for. A finished run keeps its records and `final/`; its
  /// checkpoints are deleted.
  const Run& run(const std::string& label, const std::string& data, const train::TrainConfig& config);
  /// Every run asked for so far (references stay valid as runs are added).
  const std::deque<Run>& runs() const { return runs_; }
  /// The runs with `label` on `data`.
  std::vector<const Run*> select(const std::string& label, const std::string& data) const;

  /// Whether results are written: not in a shard of several parts, whose runs are incomplete,
  /// nor after a run failed.
  bool writes() const { return shard_.count == 1 && failed_.empty(); }
  /// Writes `results/NAME.csv`: one row per run and evaluated epoch.
  std::filesystem::path write_runs_csv();
  /// Writes `table` as `results/NAME_PART.csv` (or `NAME.csv` for an empty part).
  std::filesystem::path write_csv(const std::string& part, const Table& table);
  /// Writes `text` as `results/FILE`.
  std::filesystem::path write_result(const std::string& file, const std::string& text);
  /// Draws `figures/NAME.pdf` and `.png` with gnuplot: the common style, then `script`
  /// (plot commands; `RESULTS` is a gnuplot variable holding the results folder). `width` and
  /// `height` are the PDF's size in inches (the PNG keeps the proportions).
  void plot(const std::string& script, double width = 6.5, double height = 4.5);
  /// Writes `results/NAME.manifest.json` (git revision, profile, machine, LibTorch version,
  /// runs with their hashes, seeds and times, outputs, wall time) and prints where the outputs
  /// are; an Error naming the failed runs instead if any failed.
  void finish();

 private:
  std::string name_;
  Profile profile_;
  PaperPaths paths_;
  Shard shard_;
  std::deque<Run> runs_;  // stable addresses: select() hands out pointers
  std::vector<std::string> failed_;  // the runs whose child failed, with its exit status
  std::vector<std::filesystem::path> outputs_;
  Clock::time_point start_;
};

}  // namespace loraft::paper
