#pragma once
/// @file
/// @brief Pieces the figure programs share: running one configuration over seeds, the
/// per-epoch and final tables with 95% intervals over seeds, and gnuplot helpers.

#include <cstdint>
#include <string>
#include <vector>

#include "loraft/paper/study.h"

namespace loraft::paper {

/// One line, bar or point of a figure: a label and the configuration it runs.
struct Arm {
  std::string label;          ///< legend / axis name
  train::TrainConfig config;  ///< seed replaced by each seed in turn
};

/// Runs `arm` on `data` once per seed; returns the runs.
std::vector<const Run*> run_seeds(Study& study, const Arm& arm, const std::string& data,
                                  const std::vector<std::uint64_t>& seeds);

/// Per epoch of each arm: series (0-based arm index), label, epoch, and mean/lo/hi over seeds
/// of eval loss and accuracy (columns loss_mean, loss_lo, loss_hi, acc_mean, acc_lo, acc_hi).
Table epoch_table(const Study& study, const std::vector<Arm>& arms, const std::string& data);

/// Per arm, at the end of training: series, label, n (seeds), acc_mean/lo/hi, loss_mean/lo/hi,
/// time_mean/lo/hi (Run::train_seconds: steps x median step time), trainable (parameters),
/// rss_mean/lo/hi (peak_rss_mib: each run trains in its own process).
Table final_table(const Study& study, const std::vector<Arm>& arms, const std::string& data);

/// A gnuplot array literal of the arms' labels: `array NAME[n] = ["a", "b"]`.
std::string gnuplot_labels(const std::string& name, const std::vector<Arm>& arms);

/// A gnuplot plot clause drawing 95% interval bars (capped, no marker) for `data` (a
/// gnuplot variable naming a CSV file) at x column `x` from columns `PREFIX_lo` to
/// `PREFIX_hi` (`prefix` = PREFIX).
std::string gnuplot_interval_bars(const std::string& data, const std::string& x, const std::string& prefix);

/// "1 seed" or "N seeds, 95% intervals", for figure titles.
std::string seeds_phrase(std::size_t n);

/// `text` with LaTeX's special characters escaped (for generated tables and macros).
std::string tex_escape(const std::string& text);

/// Human name of a profile data set: "IMDB", "AG News".
std::string data_title(const std::string& data);

/// Figures 1, 2 and 6: the arms on `data` over the profile's seeds, in the report's four panels
/// (a) training time, (b) trainable parameters, (c) eval loss and (d) accuracy per epoch, and
/// (e) the peak memory of a run, with 95% intervals over seeds. Writes `NAME.csv`, `NAME_epochs.csv`, `NAME_final.csv`.
void compare_methods(Study& study, const std::string& data, const std::vector<Arm>& arms,
                     const std::string& title);

/// The profile's LoRA sweep as arms (method lora, the base configuration otherwise).
std::vector<Arm> sweep_arms(const Profile& profile);

/// Every method of the comparison (table 2, figure 9), each with the profile's settings: full,
/// LoRA, LoRA+, DoRA, IA3, bottleneck adapters (the profile's variant, Pfeiffer by default)
/// and prompt tuning. Prompt tuning's texts are cut
/// num_virtual_tokens shorter (max_length - num_virtual_tokens), so that virtual and real
/// tokens together are as long as the other methods' inputs and fit the model's positions.
std::vector<Arm> method_arms(const Profile& profile);

/// Figures 3-5 share these runs: every sweep point on IMDB over the sweep seeds. Writes
/// `NAME.csv` and `NAME_final.csv` (final_table plus r, alpha, dropout, targets); returns
/// the arms.
std::vector<Arm> run_sweep(Study& study);

}  // namespace loraft::paper
