#pragma once
/// @file
/// @brief The performance targets of a benchmark program as one table printed after its
/// benchmarks, from what those benchmarks measured in the same process: each target, the
/// measured value, the bound, and whether it is met or by how much it is missed.
///
/// A program hands run_with_targets() a function that turns the recorded results into
/// Target rows. The results are each benchmark's counters: the median aggregate when the
/// benchmark ran with repetitions, else its (last) run. The table is Markdown, so that a
/// run's table can go into docs/performance.md as it is.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace loraft::bench {

/// Whether a run ended in an error or was skipped: `Run::skipped` from Google Benchmark 1.8 on
/// (Debian 13), `Run::error_occurred` before (Debian 12's 1.7).
template <class Run>
auto run_failed(const Run& run, int) -> decltype(static_cast<bool>(run.skipped)) {
  return static_cast<bool>(run.skipped);
}
/// The same for Google Benchmark before 1.8.
template <class Run>
bool run_failed(const Run& run, long) {
  return run.error_occurred;
}

/// What the benchmarks of one process measured, by benchmark (its function name, with its
/// arguments: `BM_TrainStep/full`, `BM_AdamWStep/fused:1`).
class Results {
 public:
  /// Counter `counter` of benchmark `name`; nullopt when it did not run (filtered out, or an
  /// error) or has no such counter. "real_time_s" is the wall time per iteration.
  std::optional<double> get(const std::string& name, const std::string& counter) const {
    auto b = by_name_.find(name);
    if (b == by_name_.end()) return std::nullopt;
    auto c = b->second.values.find(counter);
    if (c == b->second.values.end()) return std::nullopt;
    return c->second;
  }
  /// Whether benchmark `name` ran.
  bool ran(const std::string& name) const { return by_name_.count(name) > 0; }

  /// Records one run: a median aggregate replaces what is there, a single run only fills a gap
  /// or replaces another single run.
  void record(const benchmark::BenchmarkReporter::Run& run) {
    if (run_failed(run, 0)) return;
    const bool median = run.run_type == benchmark::BenchmarkReporter::Run::RT_Aggregate;
    if (median && run.aggregate_name != "median") return;
    std::string name = run.run_name.function_name;
    if (!run.run_name.args.empty()) name += "/" + run.run_name.args;
    Entry& e = by_name_[name];
    if (e.median && !median) return;
    e.median = median;
    e.values.clear();
    for (const auto& [key, counter] : run.counters) e.values[key] = counter.value;
    e.values["real_time_s"] = run.GetAdjustedRealTime() * time_unit_seconds(run.time_unit);
  }

 private:
  struct Entry {
    bool median = false;
    std::map<std::string, double> values;
  };
  static double time_unit_seconds(benchmark::TimeUnit unit) {
    switch (unit) {
      case benchmark::kNanosecond: return 1e-9;
      case benchmark::kMicrosecond: return 1e-6;
      case benchmark::kMillisecond: return 1e-3;
      default: return 1.0;
    }
  }
  std::map<std::string, Entry> by_name_;
};

/// Passes everything to the reporter that --benchmark_format asks for and records each run.
class RecordingReporter : public benchmark::BenchmarkReporter {
 public:
  /// `format`: "console" or "json"; `color`, `tabular`: the console's options.
  RecordingReporter(const std::string& format, bool color, bool tabular) {
    if (format == "json") {
      inner_ = std::make_unique<benchmark::JSONReporter>();
    } else {
      int options = benchmark::ConsoleReporter::OO_None;
      if (color) options |= benchmark::ConsoleReporter::OO_Color;
      if (tabular) options |= benchmark::ConsoleReporter::OO_Tabular;
      inner_ = std::make_unique<benchmark::ConsoleReporter>(
          static_cast<benchmark::ConsoleReporter::OutputOptions>(options));
    }
  }
  bool ReportContext(const Context& context) override { return inner_->ReportContext(context); }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& run : runs) results_.record(run);
    inner_->ReportRuns(runs);
  }
  void Finalize() override { inner_->Finalize(); }
  /// What was recorded so far.
  const Results& results() const noexcept { return results_; }

 private:
  std::unique_ptr<benchmark::BenchmarkReporter> inner_;
  Results results_;
};

/// One row of the targets table.
struct Target {
  /// How the measured value is held against the bound; `info` rows have none.
  enum class Kind { at_least, at_most, info };
  std::string what;                 ///< e.g. "full fine-tuning step, MFU"
  std::optional<double> measured;   ///< nullopt: its benchmark did not run
  Kind kind = Kind::info;           ///< see Kind
  double bound = 0;                 ///< the target (unused for info)
  double scale = 1;                 ///< printed value = value x scale (100 for a percentage)
  std::string unit;                 ///< printed after the value: " %", "x", " MiB", " ms"
  int decimals = 1;                 ///< digits after the point
  std::string note;                 ///< where the bound comes from, or what the row means
};

/// The value as printed: scaled, rounded, with its unit.
inline std::string format_value(double v, const Target& t) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%s", t.decimals, v * t.scale, t.unit.c_str());
  return buf;
}

/// "met", "missed by ...", "not run" or "-" (info).
inline std::string verdict(const Target& t) {
  if (!t.measured) return "not run";
  if (t.kind == Target::Kind::info) return "-";
  const double v = *t.measured;
  const bool met = t.kind == Target::Kind::at_least ? v >= t.bound : v <= t.bound;
  if (met) return "met";
  Target gap = t;
  if (gap.unit == " %") gap.unit = " points";
  return "missed by " + format_value(std::fabs(v - t.bound), gap);
}

/// Prints `targets` as a Markdown table under `title` to `out`.
inline void print_targets(std::FILE* out, const std::string& title, const std::vector<Target>& targets) {
  std::fprintf(out, "\n%s\n\n| target | measured | required | verdict | note |\n|---|---|---|---|---|\n",
               title.c_str());
  for (const auto& t : targets) {
    std::string required = "-";
    if (t.kind != Target::Kind::info)
      required = std::string(t.kind == Target::Kind::at_least ? ">= " : "<= ") + format_value(t.bound, t);
    std::fprintf(out, "| %s | %s | %s | %s | %s |\n", t.what.c_str(),
                 t.measured ? format_value(*t.measured, t).c_str() : "-", required.c_str(), verdict(t).c_str(),
                 t.note.c_str());
  }
  std::fflush(out);
}

/// measured / reference, when both are known.
inline std::optional<double> ratio(std::optional<double> measured, std::optional<double> reference) {
  if (!measured || !reference || *reference == 0) return std::nullopt;
  return *measured / *reference;
}

/// Google Benchmark's main with the targets table after the runs: Initialize, the runs through
/// a RecordingReporter, then `targets(results)` printed under `title` (to standard output
/// with the console format, else to standard error so that JSON or CSV output stays clean).
/// Returns main's exit status.
inline int run_with_targets(int argc, char** argv, const std::string& title,
                            const std::function<std::vector<Target>(const Results&)>& targets) {
  std::string format = "console";
  bool color = isatty(STDOUT_FILENO) != 0, tabular = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--benchmark_format=", 0) == 0) format = arg.substr(19);
    if (arg == "--benchmark_color=false" || arg == "--benchmark_color=no") color = false;
    if (arg == "--benchmark_counters_tabular=true") tabular = true;
  }
  if (format != "console" && format != "json") {
    // Google Benchmark's CSV reporter is deprecated; --benchmark_out_format=csv still works.
    std::fprintf(stderr, "%s: --benchmark_format=%s: console or json\n", argv[0], format.c_str());
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RecordingReporter reporter(format, color, tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_targets(format == "console" ? stdout : stderr, title, targets(reporter.results()));
  benchmark::Shutdown();
  return 0;
}

}  // namespace loraft::bench
