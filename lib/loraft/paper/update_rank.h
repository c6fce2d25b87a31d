#pragma once
/// @file
/// @brief Figure 8's measurement: how low-rank are the weight updates of fine-tuning? For
/// each transformer layer and linear matrix, the singular values of the full fine-tuning
/// update W_ft - W_0 and of the LoRA update (alpha/r)·B·A.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "loraft/analysis/spectrum.h"

namespace loraft::paper {

/// The rank measures of one update matrix.
struct UpdateRank {
  std::int64_t layer = 0;      ///< transformer layer
  std::string matrix;          ///< attention.q_lin, ..., ffn.lin2
  analysis::RankSummary rank;  ///< spectrum and rank measures of the update
};

/// The updates W_ft - W_0 of every linear matrix of every layer, from two checkpoint folders'
/// model.safetensors (any head, with or without the "distilbert." prefix).
std::vector<UpdateRank> full_update_ranks(const std::filesystem::path& base_model,
                                          const std::filesystem::path& finetuned_model);

/// The updates (alpha/r)·B·A (alpha/sqrt(r) with rsLoRA) of a PEFT adapter folder.
std::vector<UpdateRank> lora_update_ranks(const std::filesystem::path& adapter_dir);

}  // namespace loraft::paper
