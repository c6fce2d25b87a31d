#include "loraft/paper/study.h"

#include <cmath>
#include <iostream>
#include <sstream>

#include "loraft/core/strings.h"
#include "loraft/core/system.h"
#include "loraft/core/version.h"
#include "loraft/data/token_cache.h"
#include "loraft/io/file.h"
#include "loraft/paper/gnuplot.h"
#include "loraft/train/experiment.h"
#include "loraft/train/run_directory.h"

namespace loraft::paper {
namespace fs = std::filesystem;
using io::Json;

double Run::final_metric(const std::string& key) const {
  const Json& f = summary.at("final");
  return f.contains(key) && f[key].is_number() ? f[key].get<double>() : std::nan("");
}

double Run::metric(const std::string& key) const {
  return summary.contains(key) && summary[key].is_number() ? summary[key].get<double>() : std::nan("");
}

double Run::train_seconds() const {
  const double robust = metric("train_time_robust_s");
  return std::isfinite(robust) && robust > 0 ? robust : metric("train_time_s");
}

analysis::SeedSummary over_seeds(const std::vector<const Run*>& runs,
                                 const std::function<double(const Run&)>& metric) {
  std::vector<double> values;
  for (const Run* r : runs) values.push_back(metric(*r));
  return analysis::t_interval(values);
}

Shard Shard::parse(const std::string& text, const std::string& where) {
  Shard s;
  char slash = 0, rest = 0;
  std::istringstream in(text);
  if (!(in >> s.index >> slash >> s.count) || slash != '/' || in >> rest || s.count < 1 || s.index < 1 ||
      s.index > s.count)
    throw ConfigError("shard \"" + text + "\"", where, "i/n with 1 <= i <= n, e.g. 1/2");
  return s;
}

bool Shard::owns(const std::string& data, const train::TrainConfig& config) const {
  if (count == 1) return true;
  const std::string h = train::RunDirectory::config_hash(Json{{"data", data}, {"train", config.to_json()}});
  return std::stoull(h.substr(0, 8), nullptr, 16) % static_cast<unsigned>(count) == static_cast<unsigned>(index - 1);
}

Study::Study(std::string name, Profile profile, PaperPaths paths, Shard shard)
    : name_(std::move(name)),
      profile_(std::move(profile)),
      paths_(std::move(paths)),
      shard_(shard),
      start_(Clock::now()) {
  if (!writes()) return;
  fs::create_directories(paths_.results());
  fs::create_directories(paths_.figures());
}

const Run& Study::run(const std::string& label, const std::string& data, const train::TrainConfig& config) {
  if (!shard_.owns(data, config)) {
    std::cerr << name_ << ": run " << runs_.size() + 1 << ": " << data << " " << label << " seed " << config.seed
              << ": left to another shard\n";
    Run r{label, data, config, {}, Json{{"epochs", Json::array()}, {"final", Json::object()}}, false, true};
    runs_.push_back(std::move(r));
    return runs_.back();
  }
  const DataSetting& d = profile_.dataset(data);
  train::Experiment e;
  e.model = profile_.model;
  e.vocab = profile_.vocab;
  e.train_data = d.train;
  e.eval_data = d.eval;
  e.train_limit = d.train_limit;
  e.eval_limit = d.eval_limit;
  e.train = config;
  train::RunOptions options;
  options.runs_dir = paths_.runs_dir();
  std::cerr << name_ << ": run " << runs_.size() + 1 << ": " << data << " " << label << " seed "
            << config.seed << "\n";
  const auto start = Clock::now();
  auto result = train::run_experiment(
      e, options, paths_.cache.empty() ? data::default_token_cache_folder() : paths_.cache, false);
  // A finished run is final/ and its records; its checkpoints (the optimizer's moments,
  // 110 MB for a full fine-tuning of the mini encoder) only served to resume it.
  if (!result.reused) fs::remove_all(result.run_dir / "checkpoints");
  Run r{label, data, config, result.run_dir, result.summary, result.reused, false,
        result.reused ? 0.0 : seconds_since(start)};
  std::cerr << name_ << ":   " << (r.reused ? "reused " : "trained ") << r.hash() << ": accuracy "
            << cell(r.final_metric("eval_accuracy")) << "\n";
  runs_.push_back(std::move(r));
  return runs_.back();
}

std::vector<const Run*> Study::select(const std::string& label, const std::string& data) const {
  std::vector<const Run*> out;
  for (const auto& r : runs_)
    if (r.label == label && r.data == data) out.push_back(&r);
  return out;
}

fs::path Study::write_runs_csv() {
  Table t;
  t.columns = {"run", "label", "data", "method", "seed", "epoch", "eval_loss", "eval_accuracy",
               "train_time_s", "trainable_parameters", "total_parameters", "peak_rss_mib"};
  for (const auto& r : runs_)
    for (const auto& e : r.summary.at("epochs"))
      t.add({r.hash(), r.label, r.data, train::to_string(r.config.method), std::to_string(r.config.seed),
             cell(e.at("epoch").get<double>()), cell(e.at("eval_loss").get<double>()),
             cell(e.at("eval_accuracy").get<double>()), cell(r.metric("train_time_s")),
             cell(r.metric("trainable_parameters")), cell(r.metric("total_parameters")),
             cell(r.metric("peak_rss_mib"))});
  return write_csv("", t);
}

fs::path Study::write_csv(const std::string& part, const Table& table) {
  return write_result(name_ + (part.empty() ? "" : "_" + part) + ".csv", table.csv());
}

fs::path Study::write_result(const std::string& file, const std::string& text) {
  const fs::path path = paths_.results() / file;
  if (!writes()) return path;
  io::write_file_atomic(path, text);
  outputs_.push_back(path);
  return path;
}

void Study::plot(const std::string& script, double width, double height) {
  if (!writes()) return;
  const Figure figure{paths_.figures() / name_,
                      name_ + ": made by the program of that name (profile " + profile_.name + ")",
                      paths_.results(), script, width, height};
  for (auto& file : draw(figure)) outputs_.push_back(std::move(file));
}

void Study::finish() {
  if (!writes()) {
    std::int64_t pending = 0;
    for (const auto& r : runs_) pending += r.pending;
    std::cerr << name_ << ": shard " << shard_.index << "/" << shard_.count << ": " << runs_.size() - pending << " of "
              << runs_.size() << " runs belong to this shard and are done; once the shards' runs folders are "
              << "copied together, running without --shard draws the figures and trains nothing\n";
    return;
  }
  Json runs = Json::array();
  for (const auto& r : runs_)
    runs.push_back(Json{{"hash", r.hash()},
                        {"run_dir", fs::relative(r.run_dir, paths_.out).string()},
                        {"label", r.label},
                        {"data", r.data},
                        {"method", train::to_string(r.config.method)},
                        {"seed", r.config.seed},
                        {"reused", r.reused},
                        {"wall_s", r.wall_s},
                        {"train_time_s", r.metric("train_time_s")},
                        {"eval_accuracy", r.final_metric("eval_accuracy")},
                        {"eval_loss", r.final_metric("eval_loss")}});
  Json outputs = Json::array();
  for (const auto& o : outputs_) outputs.push_back(fs::relative(o, paths_.out).string());
  const std::string git =
      first_output_line("git -C " + shell_quote(paths_.root.string()) + " describe --always --dirty --tags");
  const MachineInfo m = machine_info();
  Json manifest{{"name", name_},
                {"git_describe", git.empty() ? "unknown" : git},
                {"profile", profile_.to_json(paths_.root)},
                {"loraft_version", version()},
                {"torch_version", torch_version()},
                {"machine", Json{{"hostname", m.hostname}, {"cpu", m.cpu}, {"cores", m.cores}, {"memory", m.memory}}},
                {"runs", runs},
                {"outputs", outputs},
                {"wall_s", seconds_since(start_)}};
  const fs::path path = paths_.results() / (name_ + ".manifest.json");
  io::write_file_atomic(path, manifest.dump(2) + "\n");
  std::cerr << name_ << ": " << runs_.size() << " runs; outputs in " << paths_.out.string() << " (manifest "
            << fs::relative(path, paths_.out).string() << ")\n";
}

}  // namespace loraft::paper
