#include "loraft/paper/study.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "loraft/core/error.h"
#include "loraft/core/strings.h"
#include "loraft/core/version.h"
#include "loraft/data/token_cache.h"
#include "loraft/io/file.h"
#include "loraft/train/experiment.h"

namespace loraft::paper {
namespace fs = std::filesystem;
using io::Json;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// First line a command prints, or "" if it fails.
std::string command_line(const std::string& command) {
  std::array<char, 512> buffer{};
  FILE* pipe = popen((command + " 2>/dev/null").c_str(), "r");
  if (!pipe) return "";
  std::string out = fgets(buffer.data(), buffer.size(), pipe) ? buffer.data() : "";
  if (pclose(pipe) != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string quote_shell(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// A string for a single-quoted gnuplot literal (where '' is one quote).
std::string gnuplot_quote(const std::string& s) {
  std::string q;
  for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q;
}

// The value of `key: value` in a /proc file, or "".
std::string proc_field(const char* file, const std::string& key) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (starts_with(line, key)) {
      auto colon = line.find(':');
      auto value = colon == std::string::npos ? std::string() : line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  return "";
}

Json machine() {
  std::array<char, 256> host{};
  gethostname(host.data(), host.size() - 1);
  return Json{{"hostname", host.data()},
              {"cpu", proc_field("/proc/cpuinfo", "model name")},
              {"cores", std::thread::hardware_concurrency()},
              {"memory", proc_field("/proc/meminfo", "MemTotal")}};
}

// One style for every figure: colours, grid, fonts, CSV input with a header row.
const char* kStyle = R"(set datafile separator ','
set datafile columnheaders
set border 3
set tics nomirror out
set grid ytics lc rgb '#d9d9d9' lw 1 dt 2
set key noopaque box lc rgb '#bbbbbb'
set style fill solid 0.85 border lc rgb '#333333'
set boxwidth 0.6
set bars 0.6
set linetype 1 lc rgb '#1b6ca8' lw 2 pt 7 ps 0.8
set linetype 2 lc rgb '#d1495b' lw 2 pt 5 ps 0.8
set linetype 3 lc rgb '#2e8b57' lw 2 pt 9 ps 0.9
set linetype 4 lc rgb '#edae49' lw 2 pt 11 ps 0.9
set linetype 5 lc rgb '#6a4c93' lw 2 pt 13 ps 0.9
set linetype 6 lc rgb '#00798c' lw 2 pt 3 ps 0.9
)";

}  // namespace

double Run::final_metric(const std::string& key) const {
  const Json& f = summary.at("final");
  return f.contains(key) && f[key].is_number() ? f[key].get<double>() : std::nan("");
}

double Run::metric(const std::string& key) const {
  return summary.contains(key) && summary[key].is_number() ? summary[key].get<double>() : std::nan("");
}

void Table::add(std::vector<std::string> row) {
  if (row.size() != columns.size())
    throw ConfigError("a row of " + std::to_string(row.size()) + " cells in a table of " +
                      std::to_string(columns.size()) + " columns");
  rows.push_back(std::move(row));
}

std::string cell(double value) {
  if (std::isnan(value)) return "nan";
  std::ostringstream s;
  s.precision(6);
  s << value;
  return s.str();
}

analysis::SeedSummary over_seeds(const std::vector<const Run*>& runs,
                                 const std::function<double(const Run&)>& metric) {
  std::vector<double> values;
  for (const Run* r : runs) values.push_back(metric(*r));
  return analysis::t_interval(values);
}

Study::Study(std::string name, Profile profile, PaperPaths paths)
    : name_(std::move(name)), profile_(std::move(profile)), paths_(std::move(paths)), start_s_(now_s()) {
  fs::create_directories(paths_.results());
  fs::create_directories(paths_.figures());
}

const Run& Study::run(const std::string& label, const std::string& data, const train::TrainConfig& config) {
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
  const double start = now_s();
  auto result = train::run_experiment(
      e, options, paths_.cache.empty() ? data::default_token_cache_folder() : paths_.cache, false);
  // A finished run is final/ and its records; its checkpoints (the optimizer's moments,
  // 110 MB for a full fine-tuning of the mini encoder) only served to resume it.
  if (!result.reused) fs::remove_all(result.run_dir / "checkpoints");
  Run r{label, data, config, result.run_dir, result.summary, result.reused,
        result.reused ? 0.0 : now_s() - start};
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
  std::ostringstream s;
  for (std::size_t i = 0; i < table.columns.size(); ++i) s << (i ? "," : "") << csv_quote(table.columns[i]);
  s << "\n";
  for (const auto& row : table.rows) {
    for (std::size_t i = 0; i < row.size(); ++i) s << (i ? "," : "") << csv_quote(row[i]);
    s << "\n";
  }
  return write_result(name_ + (part.empty() ? "" : "_" + part) + ".csv", s.str());
}

fs::path Study::write_result(const std::string& file, const std::string& text) {
  const fs::path path = paths_.results() / file;
  io::write_file_atomic(path, text);
  outputs_.push_back(path);
  return path;
}

void Study::plot(const std::string& script, double width, double height) {
  const fs::path base = paths_.figures() / name_;
  std::ostringstream gp;
  gp << "# " << name_ << ": made by the program of that name (profile " << profile_.name << ")\n";
  for (const char* kind : {"pdf", "png"}) {
    if (std::string(kind) == "pdf")
      gp << "set terminal pdfcairo enhanced color font 'Helvetica,9' size " << width << "in," << height << "in\n";
    else
      gp << "set terminal pngcairo enhanced font 'Helvetica,10' size " << static_cast<int>(width * 130) << ","
         << static_cast<int>(height * 130) << "\n";
    gp << "set output '" << gnuplot_quote(base.string()) << "." << kind << "'\n"
       << "reset session\nRESULTS = '" << gnuplot_quote(paths_.results().string()) << "'\n"
       << kStyle << script << "\nunset multiplot\nset output\n";
  }
  const fs::path gp_file = base.string() + ".gp";
  io::write_file_atomic(gp_file, gp.str());
  // LORAFT_NO_PLOT=1: machines without gnuplot (the GPU check) keep the script, which
  // `gnuplot FILE.gp` draws elsewhere; every CSV and table is written as usual.
  if (const char* no_plot = std::getenv("LORAFT_NO_PLOT"); no_plot && std::string(no_plot) == "1") {
    outputs_.push_back(gp_file.string());
    return;
  }
  const std::string command = "gnuplot " + quote_shell(gp_file.string()) + " 2>" +
                              quote_shell(base.string() + ".gnuplot.log");
  if (std::system(command.c_str()) != 0)
    throw IoError("gnuplot failed on " + gp_file.string() + " (see " + base.string() +
                  ".gnuplot.log; scripts/install-deps.sh installs gnuplot)");
  fs::remove(base.string() + ".gnuplot.log");
  for (const char* ext : {".pdf", ".png", ".gp"}) outputs_.push_back(base.string() + ext);
}

void Study::finish() {
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
  std::string git = command_line("git -C " + quote_shell(paths_.root.string()) + " describe --always --dirty --tags");
  Json manifest{{"name", name_},
                {"git_describe", git.empty() ? "unknown" : git},
                {"profile", profile_.to_json(paths_.root)},
                {"loraft_version", version()},
                {"torch_version", torch_version()},
                {"machine", machine()},
                {"runs", runs},
                {"outputs", outputs},
                {"wall_s", now_s() - start_s_}};
  const fs::path path = paths_.results() / (name_ + ".manifest.json");
  io::write_file_atomic(path, manifest.dump(2) + "\n");
  std::cerr << name_ << ": " << runs_.size() << " runs; outputs in " << paths_.out.string() << " (manifest "
            << fs::relative(path, paths_.out).string() << ")\n";
}

}  // namespace loraft::paper
