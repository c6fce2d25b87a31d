#pragma once
/// @file
/// @brief Hugging Face checkpoint folders (`config.json` + `model.safetensors`) in and out of
/// the DistilBERT models, with transformers' tensor names and its report of what did not fit.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "loraft/io/safetensors.h"
#include "loraft/model/config.h"
#include "loraft/model/distilbert.h"

namespace loraft::model {

/// File name of the configuration in a checkpoint folder.
inline constexpr const char* kConfigFile = "config.json";
/// File name of the weights in a checkpoint folder.
inline constexpr const char* kWeightsFile = "model.safetensors";

/// What loading a checkpoint found, in the terms of transformers'
/// `from_pretrained(..., output_loading_info=True)`. Names are the model's (after renames)
/// and sorted, as transformers sorts them.
struct LoadReport {
  std::vector<std::string> missing_keys;     ///< model tensors the file lacks (left freshly initialised)
  std::vector<std::string> unexpected_keys;  ///< file tensors the model has no place for (ignored)
  std::vector<std::string> mismatched_keys;  ///< `name: file F32[2, 32], model [4, 32]`
  std::vector<std::string> converted_keys;   ///< tensors stored as F16/BF16/F64, converted to float32
  std::vector<std::string> renamed_keys;     ///< `file name -> model name` (legacy gamma/beta, base-model prefix)

  /// Whether every model tensor came from the file and every file tensor was used.
  bool complete() const { return missing_keys.empty() && unexpected_keys.empty() && mismatched_keys.empty(); }
  /// One line listing the missing, unexpected and mismatched keys.
  std::string summary() const;
};

/// How to load a checkpoint folder.
struct LoadOptions {
  /// Accept a checkpoint without this model's head (e.g. the `distilbert-base-uncased` MLM
  /// checkpoint loaded for sequence classification): the head's tensors stay freshly
  /// initialised and are reported as missing; the tensors of another head (`vocab_*`,
  /// `pre_classifier.*`, ...) are reported as unexpected and ignored. The encoder must still
  /// load completely. Off by default: then any missing, unexpected or mis-shaped tensor is an
  /// error.
  bool allow_missing_head = false;
  /// Seed of the initialisation that a missing head keeps.
  std::uint64_t seed = 0;
  /// When positive, the classification head gets this many labels whatever config.json says
  /// (as `from_pretrained(dir, num_labels=n)`).
  std::int64_t num_labels = 0;
  /// Called on the config read from the folder before the model is built (e.g. to set
  /// dropouts to 0).
  std::function<void(DistilBertConfig&)> adjust_config;
};

/// The folder's config.json with `options` applied (num_labels, adjust_config), validated.
DistilBertConfig load_config(const std::filesystem::path& folder, const LoadOptions& options = {});

/// Copies the tensors of a safetensors file into `model`'s parameters and buffers (matched by
/// Hugging Face name), converting F16/BF16/F64 to the parameter's dtype. `head_prefixes` are
/// the names of the model's task head (e.g. "classifier."), which `allow_missing_head`
/// lets be absent. Nothing is copied unless the whole file is acceptable; otherwise one
/// FormatError lists every missing, unexpected and mis-shaped tensor.
LoadReport load_weights(torch::nn::Module& model, const std::filesystem::path& file,
                        const std::vector<std::string>& head_prefixes, bool allow_missing_head);

/// Builds a DistilBertForSequenceClassification from a checkpoint folder (the equivalent of
/// `DistilBertForSequenceClassification.from_pretrained(folder)`); `report`, if given,
/// receives what loading found. The model is returned in training mode, as transformers
/// does; call `->eval()` for inference.
DistilBertForSequenceClassification load_sequence_classification(const std::filesystem::path& folder,
                                                                  const LoadOptions& options = {},
                                                                  LoadReport* report = nullptr);

/// Builds a DistilBertForMaskedLM from a checkpoint folder (the layout of the real
/// `distilbert-base-uncased`). A `vocab_projector.weight` in the file is ignored: the
/// projector is tied to the word embeddings.
DistilBertForMaskedLM load_masked_lm(const std::filesystem::path& folder, const LoadOptions& options = {},
                                     LoadReport* report = nullptr);

/// The tensors `save_pretrained` writes for `model`: parameters and buffers under their
/// Hugging Face names, each tensor once (the tied vocab_projector.weight is not a separate
/// parameter, so it is not among them).
io::NamedTensors state_dict(const torch::nn::Module& model);

/// Writes a checkpoint folder that transformers' `from_pretrained` loads: config.json (with
/// `architectures` = {architecture}) and model.safetensors (state_dict(model), float32,
/// `{"format": "pt"}` metadata), each atomically.
void save_pretrained(const std::filesystem::path& folder, const torch::nn::Module& model,
                     const DistilBertConfig& config, const std::string& architecture);

/// save_pretrained() for the classifier ("DistilBertForSequenceClassification").
void save_pretrained(const std::filesystem::path& folder, const DistilBertForSequenceClassification& model);

/// save_pretrained() for the MLM model ("DistilBertForMaskedLM").
void save_pretrained(const std::filesystem::path& folder, const DistilBertForMaskedLM& model);

}  // namespace loraft::model
