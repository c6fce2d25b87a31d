#include "loraft/paper/update_rank.h"

#include <cmath>
#include <map>
#include <regex>

#include <torch/torch.h>

#include "loraft/adapter/peft_io.h"
#include "loraft/core/error.h"
#include "loraft/io/safetensors.h"

namespace loraft::paper {
namespace fs = std::filesystem;

namespace {

// "...transformer.layer.<i>.<matrix>.<rest>" -> (i, matrix, rest); the linear matrices only.
const std::regex kLinear(R"(transformer\.layer\.(\d+)\.((?:attention\.(?:q_lin|k_lin|v_lin|out_lin))|(?:ffn\.(?:lin1|lin2)))\.(.+)$)");

analysis::Matrix to_matrix(const at::Tensor& t) {
  auto d = t.to(torch::kDouble).contiguous();
  analysis::Matrix m(d.size(0), d.size(1));
  std::copy(d.data_ptr<double>(), d.data_ptr<double>() + d.numel(), m.data());
  return m;
}

using Key = std::pair<std::int64_t, std::string>;

std::map<Key, at::Tensor> linear_tensors(const std::map<std::string, at::Tensor>& tensors,
                                         const std::string& suffix) {
  std::map<Key, at::Tensor> out;
  std::smatch m;
  for (const auto& [name, t] : tensors)
    if (std::regex_search(name, m, kLinear) && m[3] == suffix) out[{std::stoll(m[1]), m[2]}] = t;
  return out;
}

}  // namespace

std::vector<UpdateRank> full_update_ranks(const fs::path& base_model, const fs::path& finetuned_model) {
  const auto base = linear_tensors(io::load_safetensors(base_model / "model.safetensors"), "weight");
  const auto tuned = linear_tensors(io::load_safetensors(finetuned_model / "model.safetensors"), "weight");
  if (base.empty()) throw FormatError("no transformer linear weights", (base_model / "model.safetensors").string());
  std::vector<UpdateRank> out;
  for (const auto& [key, w0] : base) {
    auto it = tuned.find(key);
    if (it == tuned.end())
      throw FormatError("no layer " + std::to_string(key.first) + " " + key.second + " weight",
                        (finetuned_model / "model.safetensors").string(), "the base model's architecture");
    out.push_back({key.first, key.second,
                   analysis::rank_summary(to_matrix(it->second.to(torch::kDouble) - w0.to(torch::kDouble)))});
  }
  return out;
}

std::vector<UpdateRank> lora_update_ranks(const fs::path& adapter_dir) {
  const auto config = adapter::read_adapter_config(adapter_dir);
  const double scaling = config.lora_alpha / (config.use_rslora ? std::sqrt(double(config.r)) : double(config.r));
  const auto tensors = io::load_safetensors(adapter_dir / "adapter_model.safetensors");
  const auto a = linear_tensors(tensors, "lora_A.weight");
  const auto b = linear_tensors(tensors, "lora_B.weight");
  std::vector<UpdateRank> out;
  for (const auto& [key, a_t] : a) {
    auto it = b.find(key);
    if (it == b.end())
      throw FormatError("lora_A without lora_B for layer " + std::to_string(key.first) + " " + key.second,
                        (adapter_dir / "adapter_model.safetensors").string());
    auto delta = torch::matmul(it->second.to(torch::kDouble), a_t.to(torch::kDouble)) * scaling;
    out.push_back({key.first, key.second, analysis::rank_summary(to_matrix(delta))});
  }
  return out;
}

}  // namespace loraft::paper
