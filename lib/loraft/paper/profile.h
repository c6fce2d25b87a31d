#pragma once
/// @file
/// @brief A paper profile (paper/profiles/NAME.json): which model and data the figures
/// use, the report's hyperparameters as the profile scales them, the seeds and the grids of
/// the sweeps. `smoke` runs in seconds, `mini` on a 2-core CPU, `full` is the report's
/// exact setting.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "loraft/train/trainer.h"

namespace loraft::paper {

/// One data set of a profile: its training and evaluation specs (data::parse_dataset_spec,
/// paths resolved against the project root) and how many rows of each to use.
struct DataSetting {
  std::string train;             ///< training data spec
  std::string eval;              ///< evaluation data spec
  std::int64_t train_limit = 0;  ///< seeded random subset of the training rows (0: all)
  std::int64_t eval_limit = 0;   ///< seeded random subset of the evaluation rows (0: all)
};

/// One point of the LoRA hyperparameter sweep.
struct SweepPoint {
  std::string label;         ///< how the figures name it ("r=8", "r=8 all linear", ...)
  adapter::LoraConfig lora;  ///< the adapter of this point
};

/// A paper profile. Every path is absolute once load() returns.
struct Profile {
  std::string name;                           ///< the file's stem: smoke, mini, full
  std::filesystem::path file;                 ///< the profile file itself
  std::string note;                           ///< why the settings differ from the report's
  std::filesystem::path model;                ///< starting checkpoint folder
  std::filesystem::path vocab;                ///< its vocab.txt
  std::map<std::string, DataSetting> data;    ///< "imdb" and "ag_news"
  train::TrainConfig base;                    ///< the report's hyperparameters as scaled here
  std::vector<std::uint64_t> seeds;           ///< seeds of every method comparison
  std::int64_t sweep_seeds = 1;               ///< the first this many seeds run the sweeps
  std::vector<SweepPoint> sweep;              ///< LoRA grid of figures 3-5 (IMDB)
  std::vector<double> loraplus_ratios;        ///< LoRA+ ratios of figure 7 (IMDB)
  int threads = 0;                            ///< CPU threads (0: all cores)

  /// The data setting `name`; ConfigError naming the profile if it has none.
  const DataSetting& dataset(const std::string& name) const;
  /// The base configuration for `method` and `seed`.
  train::TrainConfig config(train::Method method, std::uint64_t seed) const;
  /// The seeds the sweeps run (the first sweep_seeds of seeds).
  std::vector<std::uint64_t> sweep_seed_list() const;
  /// The profile as plain JSON (resolved paths made relative to `root` again).
  io::Json to_json(const std::filesystem::path& root) const;

  /// Reads `paper/profiles/NAME.json` under `root` when `name_or_file` has no '/' and no
  /// ".json", else that file. Relative paths inside resolve against `root`. Every model,
  /// vocabulary and data path must exist: a missing one is a ConfigError that names it and,
  /// where the profile's `fetch` table knows, the command that downloads it.
  static Profile load(const std::string& name_or_file, const std::filesystem::path& root);
};

}  // namespace loraft::paper
