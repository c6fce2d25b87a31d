// Tokenizer throughput on real review text: the IMDB training sample shipped in
// data/samples/imdb/train (every review file, concatenated in path order).
//
//   build/bench/bench_tokenizer --benchmark_counters_tabular=true
//
// bytes_per_second is UTF-8 input bytes per second.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "loraft/core/threads.h"
#include "loraft/io/file.h"
#include "loraft/text/bert_tokenizer.h"

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
  for (auto _ : state) {
    for (const auto& t : texts) benchmark::DoNotOptimize(tok.encode(t, 128, true, Padding::max_length));
  }
  state.SetBytesProcessed(state.iterations() * total_bytes(texts));
  state.counters["texts"] = static_cast<double>(texts.size());
}
BENCHMARK(BM_EncodeSerial)->Unit(benchmark::kMillisecond);

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
BENCHMARK(BM_TokenIdsSerial)->Unit(benchmark::kMillisecond);

// encode_batch over every thread loraft uses (LORAFT_NUM_THREADS or all cores).
void BM_EncodeBatchAllThreads(benchmark::State& state) {
  const auto& texts = reviews();
  const auto& tok = tokenizer();
  for (auto _ : state)
    benchmark::DoNotOptimize(tok.encode_batch(texts, 128, true, Padding::max_length, 0));
  state.SetBytesProcessed(state.iterations() * total_bytes(texts));
  state.counters["threads"] = loraft::num_threads();
}
BENCHMARK(BM_EncodeBatchAllThreads)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
