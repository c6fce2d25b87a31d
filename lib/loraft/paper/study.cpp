#include "loraft/paper/study.h"

#include <unistd.h>

#include <cmath>
#include <iostream>
#include <sstream>

#include "loraft/core/strings.h"
#include "loraft/core/system.h"
#include "loraft/core/version.h"
#include "loraft/data/token_cache.h"
#include "loraft/io/file.h"
#include "loraft/paper/gnuplot.h"
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
  const std::string what = data + " " + label + " seed " + std::to_string(config.seed);
  std::cerr << name_ << ": run " << runs_.size() + 1 << ": " << what;
  const Json empty{{"epochs", Json::array()}, {"final", Json::object()}};
  if (!shard_.owns(data, config)) {
    std::cerr << ": left to another shard\n";
    runs_.push_back(Run{label, data, config, {}, empty, false, true});
    return runs_.back();
  }
  std::cerr << "\n";
  if (!fs::is_regular_file(paths_.trainer))
    throw ConfigError("no training program " + paths_.trainer.string(), "",
                      "loraft-train beside the paper programs (build it first: make)");
  // Each run trains in a child loraft-train: its peak memory is the run's own, and a crash
  // ends that run only. The configuration travels as its --config file (TrainConfig's JSON
  // round trip is exact, so the child names the run folder this configuration hashes to).
  const fs::path runs_dir = paths_.runs_dir();
  fs::create_directories(runs_dir);
  const fs::path config_file = runs_dir / (".study-" + std::to_string(::getpid()) + ".json");
  io::write_file_atomic(config_file, config.to_json().dump(2) + "\n");
  const DataSetting& d = profile_.dataset(data);
  std::vector<std::string> argv{paths_.trainer.string(), "--model", profile_.model.string(), "--vocab",
                                profile_.vocab.string(), "--train", d.train, "--eval", d.eval, "--train-limit",
                                std::to_string(d.train_limit), "--eval-limit", std::to_string(d.eval_limit),
                                "--config", config_file.string(), "--runs-dir", runs_dir.string(), "--threads",
                                std::to_string(profile_.threads)};
  if (!paths_.cache.empty()) argv.insert(argv.end(), {"--cache-dir", paths_.cache.string()});
  if (!runs_.empty()) argv.push_back("--quiet");  // what the data and model are: said by the first run
  const auto start = Clock::now();
  const ProgramResult child = run_program(argv);
  fs::remove(config_file);
  // loraft-train's one line on stdout: {"run_dir": ..., "reused": ..., ...}.
  const std::string out = child.output.substr(0, child.output.find_last_not_of('\n') + 1);
  const std::string line = out.substr(out.find_last_of('\n') + 1);
  if (child.status != 0 || line.empty()) {
    std::cerr << name_ << ":   failed (loraft-train exit " << child.status
              << "); the study goes on with its other runs\n";
    failed_.push_back(what + ": exit " + std::to_string(child.status));
    runs_.push_back(Run{label, data, config, {}, empty, false, true});
    return runs_.back();
  }
  const Json report = Json::parse(line);
  const fs::path run_dir = report.at("run_dir").get<std::string>();
  const bool reused = report.at("reused").get<bool>();
  // A finished run is final/ and its records; its checkpoints (the optimizer's moments,
  // 110 MB for a full fine-tuning of the mini encoder) only served to resume it.
  if (!reused) fs::remove_all(run_dir / "checkpoints");
  Run r{label, data, config, run_dir, io::read_json(run_dir / "summary.json"), reused, false,
        reused ? 0.0 : seconds_since(start)};
  std::cerr << name_ << ":   " << (r.reused ? "reused " : "trained ") << r.hash() << ": accuracy "
            << cell(r.final_metric("eval_accuracy")) << ", peak memory " << cell(r.metric("peak_rss_mib"))
            << " MiB\n";
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
  if (!failed_.empty()) {
    std::string list;
    for (const auto& f : failed_) list += (list.empty() ? "" : "; ") + f;
    throw Error(std::to_string(failed_.size()) + " of " + std::to_string(runs_.size()) + " runs failed (" + list +
                "), so nothing was drawn; the others are recorded: run it again to retry the failed ones, reusing the rest",
                name_);
  }
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
                        {"peak_rss_mib", r.metric("peak_rss_mib")},
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
