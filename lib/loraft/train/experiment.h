#pragma once
/// @file
/// @brief One fine-tuning experiment from paths and data specs: read the data, tokenise it
/// through the HDF5 cache, load the checkpoint, record the identities and train (or reuse
/// the finished run). What `loraft-train` and the paper's figure programs both run.

#include <cstdint>
#include <filesystem>
#include <string>

#include "loraft/train/trainer.h"

namespace loraft::train {

/// Everything that names a fine-tuning run besides how it is carried out.
struct Experiment {
  std::filesystem::path model;  ///< Hugging Face checkpoint folder (config.json + model.safetensors)
  std::filesystem::path vocab;  ///< vocab.txt; empty: the model folder's vocab.txt
  std::string train_data;       ///< training data spec (data::parse_dataset_spec)
  std::string eval_data;        ///< evaluation data spec
  std::int64_t train_limit = 0;  ///< seeded random subset of the training rows (0: all)
  std::int64_t eval_limit = 0;   ///< seeded random subset of the evaluation rows (0: all)
  std::string text_column = "text";    ///< csv/tsv/jsonl: the text column
  std::string label_column = "label";  ///< csv/tsv/jsonl: the label column
  std::int64_t num_labels = 0;  ///< classes; 0: the training data's label names
  TrainConfig train;            ///< what determines the result
};

/// Runs `experiment`: token caches in `cache_folder`, the run folder under `options.runs_dir`
/// (named by the hash of the configuration and the model's and data's identities, so a
/// finished run is reused and an interrupted one resumes). `verbose` prints what data and
/// model were loaded on stderr.
RunResult run_experiment(const Experiment& experiment, const RunOptions& options,
                         const std::filesystem::path& cache_folder, bool verbose = true);

}  // namespace loraft::train
