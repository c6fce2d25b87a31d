#include "loraft/train/training_checkpoint.h"

#include <algorithm>
#include <cstdio>

#include "loraft/core/error.h"
#include "loraft/core/fault.h"
#include "loraft/core/log.h"
#include "loraft/core/strings.h"
#include "loraft/io/file.h"
#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"

namespace loraft::train {
namespace fs = std::filesystem;
using io::Json;

namespace {

// SHA-256 of every other file of a checkpoint.
constexpr const char* kChecksumsFile = "checksums.json";

std::string step_name(std::int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

// The default generators whose draws a run consumes: the CPU's, and each CUDA device's
// (dropout on the GPU draws from those), named "cpu" and "cuda:<i>".
at::Generator default_generator(const std::string& name) {
  if (name == "cpu") return at::detail::getDefaultCPUGenerator();
  if (starts_with(name, "cuda:") && torch::cuda::is_available())
    return at::globalContext().defaultGenerator(torch::Device(name));
  throw FormatError("generator \"" + name + "\" is not available here", "rng.safetensors",
                    "cpu, or cuda:<i> on a machine with that device");
}

io::NamedTensors generator_states() {
  io::NamedTensors out{{"cpu", default_generator("cpu").get_state()}};
  const int devices = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  for (int i = 0; i < devices; ++i) {
    const std::string name = "cuda:" + std::to_string(i);
    out.emplace_back(name, default_generator(name).get_state());
  }
  return out;
}

io::NamedTensors trainable_state(torch::nn::Module& model) {
  io::NamedTensors out;
  for (auto& p : model.named_parameters())
    if (p.value().requires_grad()) out.emplace_back(p.key(), p.value().detach());
  return out;
}

}  // namespace

void save_checkpoint(const fs::path& dir, torch::nn::Module& model,
                     const optim::AdamW& optimizer, const optim::LinearSchedule& schedule,
                     const TrainingProgress& at, std::int64_t keep) {
  fs::create_directories(dir);
  const fs::path final_dir = dir / step_name(at.global_step);
  const fs::path tmp = dir / (".partial-" + step_name(at.global_step));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  io::save_safetensors(tmp / "weights.safetensors", trainable_state(model));
  io::save_safetensors(tmp / "optimizer.safetensors", optimizer.state());
  io::save_safetensors(tmp / "rng.safetensors", generator_states());
  fault_point("checkpoint");
  Json state{{"epoch", at.epoch},           {"next_batch", at.next_batch},
             {"global_step", at.global_step}, {"scheduler_steps", schedule.steps_taken()},
             {"train_time_s", at.train_time}, {"eval_time_s", at.eval_time},
             {"data_time_s", at.data_time},   {"examples", at.examples},
             {"loss_scale", at.loss_scale},   {"loss_scale_growth_tracker", at.loss_scale_growth_tracker}};
  io::write_file_atomic(tmp / "state.json", state.dump(2) + "\n");
  // Integrity: a checkpoint whose bytes changed after this point is skipped on resume.
  const Json sums = io::folder_checksums(tmp);
  io::write_file_atomic(tmp / kChecksumsFile, sums.dump(2) + "\n");
  fs::remove_all(final_dir);
  io::commit_file(tmp, final_dir);
  // Keep the newest `keep` checkpoints.
  std::vector<fs::path> all;
  for (auto& e : fs::directory_iterator(dir))
    if (starts_with(e.path().filename().string(), "step-")) all.push_back(e.path());
  std::sort(all.begin(), all.end());
  for (std::size_t i = 0; i + static_cast<std::size_t>(std::max<std::int64_t>(keep, 1)) < all.size(); ++i)
    fs::remove_all(all[i]);
}

bool load_checkpoint(const fs::path& dir, torch::nn::Module& model, optim::AdamW& optimizer,
                     optim::LinearSchedule& schedule, TrainingProgress& at) {
  if (!fs::exists(dir)) return false;
  std::vector<fs::path> all;
  for (auto& e : fs::directory_iterator(dir))
    if (starts_with(e.path().filename().string(), "step-")) all.push_back(e.path());
  std::sort(all.rbegin(), all.rend());
  for (const auto& ckpt : all) {
    try {
      // Checked before anything is read into the model (checkpoints older than the checksums
      // have none).
      if (fs::exists(ckpt / kChecksumsFile)) {
        const auto recorded = io::read_json(ckpt / kChecksumsFile).get<std::map<std::string, std::string>>();
        const std::string mismatch = io::checksum_mismatch(ckpt, recorded);
        if (!mismatch.empty()) throw FormatError("damaged: " + mismatch, ckpt.string(), "the bytes it was saved with");
      }
      Json state = io::read_json(ckpt / "state.json");
      auto weights = io::load_safetensors(ckpt / "weights.safetensors");
      auto opt_state = io::load_safetensors(ckpt / "optimizer.safetensors");
      auto rng = io::load_safetensors(ckpt / "rng.safetensors");
      auto current = trainable_state(model);
      for (auto& [name, t] : current)
        if (!weights.count(name) || weights.at(name).sizes() != t.sizes())
          throw FormatError("checkpoint lacks " + name, ckpt.string(), "the run's trainable tensors");
      torch::NoGradGuard no_grad;
      for (auto& [name, t] : current) t.copy_(weights.at(name));
      optimizer.load_state({opt_state.begin(), opt_state.end()});
      for (auto& [name, state] : rng) default_generator(name).set_state(state);
      schedule.set_steps_taken(state.at("scheduler_steps"));
      at.epoch = state.at("epoch");
      at.next_batch = state.at("next_batch");
      at.global_step = state.at("global_step");
      at.train_time = state.at("train_time_s");
      at.eval_time = state.at("eval_time_s");
      at.data_time = state.at("data_time_s");
      // Checkpoints written before these fields existed have none of them.
      at.examples = state.value("examples", std::int64_t{0});
      at.loss_scale = state.value("loss_scale", 0.0);
      at.loss_scale_growth_tracker = state.value("loss_scale_growth_tracker", std::int64_t{0});
      log_info("resuming from " + ckpt.string() + " (step " + std::to_string(at.global_step) + ")");
      return true;
    } catch (const std::exception& e) {
      log_warning("skipping unreadable checkpoint " + ckpt.string() + ": " + e.what());
    }
  }
  return false;
}

}  // namespace loraft::train
