// Tokenizer throughput on real review text: the IMDB training sample shipped in
// data/samples/imdb/train (every review file, concatenated in path order).
//
//   build/bench/bench_tokenizer --benchmark_counters_tabular=true
//   build/bench/bench_tokenizer --benchmark_repetitions=9 --benchmark_report_aggregates_only=true
//       --benchmark_enable_random_interleaving=true  # (one line) medians, variants interleaved
//
// bytes_per_second is UTF-8 input bytes per wall-clock second, for every benchmark: with
// Google Benchmark's default (CPU time of the main thread) a serial loop on a busy machine
// would not be charged the time it waited for a core, and the rates of serial and threaded
// benchmarks could not be compared.

#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loraft/core/threads.h"
#include "loraft/io/file.h"
#include "loraft/text/bert_tokenizer.h"
#include "targets.h"

namespace {

namespace fs = std::filesystem;
using loraft::text::BertTokenizer;
using loraft::text::Padding;

const fs::path kSource = LORAFT_SOURCE_DIR;

const std::vector<std::string>& reviews() {
  static const std::vector<std::string> texts = [] {
    std::vector<fs::path> files;
    for (const char* label : {"neg", "pos"})
      for (const auto& e : fs::directory_iterator(kSource / "data/samples/imdb/train" / label))
        if (e.is_regular_file() && e.path().extension() == ".txt") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::vector<std::string> out;
    for (const auto& f : files) out.push_back(loraft::io::read_file(f));
    return out;
  }();
  return texts;
}

// CPU seconds of the whole process (every thread, user and system) so far.
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// Runs the benchmark loop with `work`, and reports process_cpu_ms: CPU milliseconds of all
// threads per iteration. Beside the wall time it tells work from waiting: a thread split
// that costs no extra CPU but no less wall time waited for a core the machine did not have.
template <class Work>
void run_measured(benchmark::State& state, Work&& work) {
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) work();
  state.counters["process_cpu_ms"] = (process_cpu_seconds() - cpu0) * 1e3 / static_cast<double>(state.iterations());
}

std::int64_t total_bytes(const std::vector<std::string>& texts) {
  std::int64_t n = 0;
  for (const auto& t : texts) n += static_cast<std::int64_t>(t.size());
  return n;
}

const BertTokenizer& tokenizer() {
  static const BertTokenizer tok =
      BertTokenizer::from_file(kSource / "data/vocab/bert-base-uncased/vocab.txt");
  return tok;
}

// One thread: tokenize every review and build its 128-token encoding (the token cache's
// work per text). The whole review is tokenized, as HF does, before truncation.
void BM_EncodeSerial(benchmark::State& state) {
  const auto& texts = reviews();
  const auto& tok = tokenizer();
  run_measured(state, [&] {
    for (const auto& t : texts) benchmark::DoNotOptimize(tok.encode(t, 128, true, Padding::max_length));
  });
  state.SetBytesProcessed(state.iterations() * total_bytes(texts));
  state.counters["texts"] = static_cast<double>(texts.size());
}
BENCHMARK(BM_EncodeSerial)->Unit(benchmark::kMillisecond)->UseRealTime();

// One thread: word pieces only (no special tokens, no padding).
void BM_TokenIdsSerial(benchmark::State& state) {
  const auto& texts = reviews();
  const auto& tok = tokenizer();
  std::vector<std::int32_t> ids;
  for (auto _ : state) {
    for (const auto& t : texts) {
      ids.clear();
      tok.append_token_ids(t, ids);
      benchmark::DoNotOptimize(ids.data());
    }
  }
  state.SetBytesProcessed(state.iterations() * total_bytes(texts));
}
BENCHMARK(BM_TokenIdsSerial)->Unit(benchmark::kMillisecond)->UseRealTime();

// encode_batch over every thread loraft uses (LORAFT_NUM_THREADS or all cores).
void BM_EncodeBatchAllThreads(benchmark::State& state) {
  const auto& texts = reviews();
  const auto& tok = tokenizer();
  run_measured(state, [&] { benchmark::DoNotOptimize(tok.encode_batch(texts, 128, true, Padding::max_length, 0)); });
  state.SetBytesProcessed(state.iterations() * total_bytes(texts));
  state.counters["threads"] = loraft::num_threads();
}
BENCHMARK(BM_EncodeBatchAllThreads)->Unit(benchmark::kMillisecond)->UseRealTime();

// encode_batch on a given number of threads (1 shows the batch path's own cost over
// BM_EncodeSerial; 2 its scaling).
void BM_EncodeBatch(benchmark::State& state) {
  const auto& texts = reviews();
  const auto& tok = tokenizer();
  const int threads = static_cast<int>(state.range(0));
  run_measured(state,
               [&] { benchmark::DoNotOptimize(tok.encode_batch(texts, 128, true, Padding::max_length, threads)); });
  state.SetBytesProcessed(state.iterations() * total_bytes(texts));
}
BENCHMARK(BM_EncodeBatch)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// The performance issue's data target: tokenization at >= 50 MB/s of review text per core,
// serially and in encode_batch on every thread.
std::vector<loraft::bench::Target> tokenizer_targets(const loraft::bench::Results& r) {
  using loraft::bench::Target;
  auto mb = [](std::optional<double> bytes_per_s) {
    return bytes_per_s ? std::optional<double>(*bytes_per_s / 1e6) : std::nullopt;
  };
  std::optional<double> batch_per_core;
  if (auto rate = r.get("BM_EncodeBatchAllThreads", "bytes_per_second"))
    batch_per_core = *rate / 1e6 / r.get("BM_EncodeBatchAllThreads", "threads").value_or(1);
  const auto serial_s = r.get("BM_EncodeSerial", "real_time_s");
  return {
      {"encode, one thread (BM_EncodeSerial)", mb(r.get("BM_EncodeSerial", "bytes_per_second")),
       Target::Kind::at_least, 50, 1, " MB/s", 1, "wall clock, review text"},
      {"encode_batch on every thread, per core (BM_EncodeBatchAllThreads)", batch_per_core, Target::Kind::at_least,
       50, 1, " MB/s", 1, "wall clock / threads"},
      {"encode_batch on 2 threads / one thread, time (BM_EncodeBatch)",
       loraft::bench::ratio(r.get("BM_EncodeBatch/threads:2", "real_time_s"), serial_s), Target::Kind::info, 0, 1,
       "x", 2, "below 1 only with a core free"},
  };
}

}  // namespace

int main(int argc, char** argv) {
  return loraft::bench::run_with_targets(argc, argv, "Targets of bench_tokenizer, measured in this run",
                                         tokenizer_targets);
}
