// DistilBERT throughput at the report's shape (distilbert-base, batch 16, length 128), the
// C++ counterpart of the Python reference's ref_throughput.py, whose numbers are in
// tests/fixtures/reference_throughput.json. Each training step is loraft's own
// (train::prepare_model + train::train_step: Trainer decay groups or PEFT's LoRA+ groups,
// loraft's AdamW, clipping at 1.0), as a run trains.
//
//   build/bench/bench_model                                 # CPU, float32, everything
//   build/bench/bench_model --benchmark_filter=Train        # the training steps only
//   build/bench/bench_model --device=cuda --autocast=bf16   # on a GPU, bf16 autocast
//   build/bench/bench_model --profile=full                  # per-op self times of the step
//
// After the benchmarks it prints the performance targets (bench/targets.h) as a table of what
// this run measured: MFU of the full step and of eval against 85 %, LoRA and LoRA+ against
// 0.70x the full step, MFU against the Python stack's (tests/fixtures/reference_throughput.json)
// against 1.3x, peak RSS of full and LoRA training, each in a process of its own (this
// program started again with --peak-rss=full|lora, three steps), against the Python stack's,
// and loading cached batches against 2 % of a step.
//
// --profile=full|lora|eval[:STEPS] runs no benchmark: after two warm-up steps it profiles
// STEPS (1 to 9, default 3) steps of that mode with LibTorch's autograd profiler and prints the ops
// with the most self time and the self time per category (bench/op_profile.h), the table
// tests/fixtures/tools/ref_profile.py prints for the Python stack. --profile-model=mini
// profiles the shipped mini encoder (data/models/mini-distilbert) instead.
//
// Counters: s_per_step (wall clock; CUDA synchronised), samples_per_s; gflops (matmul FLOPs
// only, the reference's analytic count); mfu = gflops / the GEMM rate (2048^3 torch::mm in the
// autocast dtype, on the device) measured at start-up in this process, the reference's
// "achieved vs GEMM"; vs_full = this step's time / the full fine-tuning step's in this run
// (LoRA and LoRA+; the target is <= 0.70); peak_rss_mib is the process's peak so far.
//
// LibTorch's matrix products run on the system BLAS (libblas.so.3): with Debian's reference
// (netlib) BLAS a 2048^3 GEMM reaches about 2 GFLOP/s, with OpenBLAS (libopenblas0-pthread,
// what the Python reference ran on) well over 100. Check gemm_gflops before comparing.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "loraft/core/strings.h"
#include "loraft/core/system.h"
#include "loraft/core/threads.h"
#include "loraft/core/timing.h"
#include "loraft/data/token_cache.h"
#include "loraft/io/json.h"
#include "loraft/model/distilbert.h"
#include "loraft/model/pretrained.h"
#include "loraft/train/trainer.h"
#include "op_profile.h"
#include "targets.h"

namespace {

using loraft::model::DistilBertConfig;
using loraft::model::DistilBertForSequenceClassification;
using loraft::train::Autocast;

constexpr std::int64_t kBatch = 16;
constexpr std::int64_t kLength = 128;
constexpr std::int64_t kGemmN = 2048;
constexpr int kWarmupSteps = 3;  // untimed steps before a step benchmark's timed ones
const std::filesystem::path kSourceDir = LORAFT_SOURCE_DIR;

// Which encoder a benchmark runs: distilbert-base-uncased's shape with random weights, or the
// mini encoder that `make paper` fine-tunes (data/models/mini-distilbert, 2 layers of width 128).
enum class Encoder { base, mini };

torch::Device g_device = torch::kCPU;  // --device
Autocast g_autocast = Autocast::none;  // --autocast
double g_gemm_flops_per_s = 0;         // measured once in main()
double g_full_step_s[2] = {0, 0};      // the full fine-tuning step of this run per Encoder, for vs_full
std::string g_profile;                 // --profile=MODE: profile MODE's step instead of benchmarking
std::string g_memory_probe;            // --peak-rss=MODE: report MODE's peak RSS instead of benchmarking
std::vector<std::string> g_device_flags;  // --device and --autocast as given, for the --peak-rss processes
int g_profile_steps = 3;               // --profile=MODE:STEPS
Encoder g_profile_encoder = Encoder::base;  // --profile-model

void synchronize() {
  if (g_device.is_cuda()) torch::cuda::synchronize();
}

// Seconds since t0 once the device has finished its queued work.
double synchronized_seconds_since(loraft::Clock::time_point t0) {
  synchronize();
  return loraft::seconds_since(t0);
}

torch::Dtype gemm_dtype() { return g_autocast == Autocast::bf16 ? torch::kBFloat16 : torch::kFloat; }

// GEMM rate on the device in the dtype the model's products run in: best of a few 2048^3
// products after one warm-up.
double measure_gemm_rate() {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto a = torch::empty({kGemmN, kGemmN}).normal_(0, 1, gen).to(g_device, gemm_dtype());
  auto b = torch::empty({kGemmN, kGemmN}).normal_(0, 1, gen).to(g_device, gemm_dtype());
  auto c = torch::mm(a, b);
  double best = 1e30;
  for (int i = 0; i < 10; ++i) {
    synchronize();
    auto t0 = loraft::Clock::now();
    torch::mm_out(c, a, b);
    best = std::min(best, synchronized_seconds_since(t0));
  }
  return 2.0 * kGemmN * kGemmN * kGemmN / best;
}

// Matmul FLOPs of one step (2 per multiply-add), counted as the reference's analytic_flops():
// q/k/v/out projections and the FFN (`lin`), QK^T and weights*V (`att`), the classifier head.
// Eval is one forward. Full training: backward computes input and weight gradients, three
// forwards' worth. LoRA (r 8 on q_lin, v_lin): weight gradients only for the adapter and the head.
double step_matmul_flops(const DistilBertConfig& c, const char* mode, std::int64_t r = 8) {
  const double tokens = static_cast<double>(kBatch * kLength);
  const double d = static_cast<double>(c.dim), h = static_cast<double>(c.hidden_dim);
  const double layers = static_cast<double>(c.n_layers);
  const double lin = layers * (4 * d * d + 2 * d * h) * tokens * 2;
  const double att = layers * 2 * (2.0 * kBatch * kLength * kLength * d);
  const double head = (d * d + d * static_cast<double>(c.num_labels())) * kBatch * 2;
  const std::string m = mode;
  if (m == "eval") return lin + att + head;
  if (m == "full") return 3 * lin + 3 * att + 3 * head;
  const double lora = layers * 2 * (2.0 * static_cast<double>(r) * d) * tokens * 2;
  return 2 * lin + 3 * att + 3 * lora + 3 * head;
}

DistilBertForSequenceClassification make_model(Encoder encoder) {
  if (encoder == Encoder::base) return DistilBertForSequenceClassification(DistilBertConfig(), 20241118);
  loraft::model::LoadOptions options;
  options.allow_missing_head = true;  // an MLM checkpoint: the classification head starts fresh
  options.seed = 20241118;
  options.num_labels = 2;
  return loraft::model::load_sequence_classification(kSourceDir / "data/models/mini-distilbert", options);
}

struct Setup {
  DistilBertForSequenceClassification model;
  const DistilBertConfig& config;
  loraft::data::Batch batch;
  explicit Setup(Encoder encoder = Encoder::base) : model(make_model(encoder)), config(model->config) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    batch.input_ids = torch::randint(config.vocab_size, {kBatch, kLength}, gen, torch::kLong);
    batch.attention_mask = torch::ones({kBatch, kLength}, torch::kLong);
    batch.labels = torch::randint(config.num_labels(), {kBatch}, gen, torch::kLong);
  }
};

// Plain counters from our own step timing (Google Benchmark's rate counters would print a
// "/s" after the unit-less MFU).
void set_counters(benchmark::State& state, double flops_per_step, double seconds) {
  const double steps = static_cast<double>(state.iterations());
  const double per_step = seconds / steps;
  state.counters["s_per_step"] = per_step;
  state.counters["samples_per_s"] = kBatch / per_step;
  state.counters["gflop_per_step"] = flops_per_step / 1e9;
  state.counters["gflops"] = flops_per_step / per_step / 1e9;
  state.counters["gemm_gflops"] = g_gemm_flops_per_s / 1e9;
  state.counters["mfu"] = flops_per_step / per_step / g_gemm_flops_per_s;
  state.counters["peak_rss_mib"] = loraft::peak_rss_mib();
}

void BM_Gemm2048(benchmark::State& state) {
  torch::NoGradGuard no_grad;
  auto a = torch::ones({kGemmN, kGemmN}, torch::TensorOptions(g_device).dtype(gemm_dtype()));
  auto b = torch::ones_like(a);
  auto c = torch::mm(a, b);
  for (auto _ : state) {
    torch::mm_out(c, a, b);
    synchronize();
  }
  state.counters["gflops"] = benchmark::Counter(static_cast<double>(state.iterations()) * 2.0 * kGemmN * kGemmN *
                                                    kGemmN / 1e9,
                                                benchmark::Counter::kIsRate);
}

// One eval forward, the reference's mode (c): eval mode, no autograd, the batch on g_device.
struct EvalRig {
  Setup s;
  torch::Tensor ids, mask;
  explicit EvalRig(Encoder encoder) : s(encoder) {
    s.model->eval();
    s.model->to(g_device);
    ids = s.batch.input_ids.to(g_device);
    mask = s.batch.attention_mask.to(g_device);
  }
  torch::Tensor step() {
    torch::NoGradGuard no_grad;
    loraft::train::AutocastGuard guard(g_autocast, g_device);
    return s.model->forward(ids, mask);
  }
};

void eval_forward(benchmark::State& state, Encoder encoder) {
  EvalRig rig(encoder);
  torch::Tensor logits;
  for (int i = 0; i < kWarmupSteps; ++i) logits = rig.step();  // as for the training steps
  double seconds = 0;
  for (auto _ : state) {
    auto t0 = loraft::Clock::now();
    logits = rig.step();
    benchmark::DoNotOptimize(logits.data_ptr());
    seconds += synchronized_seconds_since(t0);
  }
  set_counters(state, step_matmul_flops(rig.s.config, "eval"), seconds);
}
void BM_EvalForward(benchmark::State& state) { eval_forward(state, Encoder::base); }
void BM_MiniEvalForward(benchmark::State& state) { eval_forward(state, Encoder::mini); }

// One training step of a method as a run takes it (TrainConfig's defaults: the report's
// settings), the model in train mode on g_device.
struct TrainRig {
  Setup s;
  loraft::train::TrainConfig config;
  loraft::optim::AdamW optimizer;
  loraft::train::StepOptions options;
  std::vector<loraft::data::Batch> micro_batches;

  TrainRig(loraft::train::Method method, Encoder encoder, loraft::optim::AdamWOptions adamw = {})
      : s(encoder), config(with_method(method)), optimizer(loraft::train::prepare_model(s.model, config), adamw) {
    s.model->train();
    s.model->to(g_device);  // after prepare_model: with the LoRA matrices it added
    options.max_grad_norm = config.max_grad_norm;
    options.autocast = g_autocast;
    micro_batches = {s.batch};
  }
  loraft::train::StepResult step() { return loraft::train::train_step(s.model, optimizer, micro_batches, options); }
  static loraft::train::TrainConfig with_method(loraft::train::Method method) {
    loraft::train::TrainConfig c;
    c.method = method;
    return c;
  }
};

// Train mode (dropout on): one Trainer step of `method` with the report's settings (LoRA r 8,
// alpha 32, dropout 0.1 on q_lin/v_lin, the head as PEFT's modules_to_save; LoRA+ ratio 2):
// the reference's modes (a) full and (b) LoRA.
void run_train_step(benchmark::State& state, loraft::train::Method method, Encoder encoder,
                    loraft::optim::AdamWOptions adamw = {}) {
  TrainRig rig(method, encoder, adamw);
  const Setup& s = rig.s;
  const loraft::train::TrainConfig& config = rig.config;
  // Warm-up: the first step allocates the optimizer state, and the first few fault in the
  // pages that malloc then keeps for every later step (docs/performance.md, "Page faults").
  for (int i = 0; i < kWarmupSteps; ++i) rig.step();
  double seconds = 0;
  for (auto _ : state) {
    auto t0 = loraft::Clock::now();
    auto result = rig.step();
    benchmark::DoNotOptimize(result.loss);
    seconds += synchronized_seconds_since(t0);
  }
  const double per_step = seconds / static_cast<double>(state.iterations());
  const bool full = method == loraft::train::Method::full;
  set_counters(state, step_matmul_flops(s.config, full ? "full" : "lora", config.lora.r), seconds);
  double& full_step_s = g_full_step_s[static_cast<int>(encoder)];
  if (full && adamw.fused) full_step_s = per_step;  // the step the others are compared with
  else if (full_step_s > 0) state.counters["vs_full"] = per_step / full_step_s;
}
void BM_TrainStep(benchmark::State& state, loraft::train::Method method) {
  run_train_step(state, method, Encoder::base);
}
// The full step with AdamW one LibTorch operation at a time (AdamWOptions::fused off): what
// the fused update saves, as vs_full.
void BM_TrainStepPerOpAdamW(benchmark::State& state) {
  loraft::optim::AdamWOptions adamw;
  adamw.fused = false;
  run_train_step(state, loraft::train::Method::full, Encoder::base, adamw);
}
void BM_MiniTrainStep(benchmark::State& state, loraft::train::Method method) {
  run_train_step(state, method, Encoder::mini);
}

// One AdamW update of the full fine-tuning step's 67M parameters (the Trainer's decay groups,
// random gradients), fused (range 1, the default) or one LibTorch operation per line of the
// formula (0): the optimizer's share of the full step.
void BM_AdamWStep(benchmark::State& state) {
  Setup s;
  loraft::train::TrainConfig config;
  config.method = loraft::train::Method::full;
  loraft::optim::AdamWOptions options;
  options.fused = state.range(0) != 0;
  loraft::optim::AdamW optimizer(loraft::train::prepare_model(s.model, config), options);
  {
    torch::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
    for (auto& p : optimizer.parameters()) p.mutable_grad() = torch::empty_like(p).normal_(0, 1e-3, gen);
  }
  optimizer.step();  // allocates the moments
  for (auto _ : state) optimizer.step();
  double elements = 0;
  for (const auto& p : optimizer.parameters()) elements += static_cast<double>(p.numel());
  state.counters["elements"] = elements;
}

// The lever of fused q/k/v projections, measured before building it: one layer's three
// projections of the B x T tokens at distilbert-base's width as three addmm (fused:0, as the
// model runs them) or as one addmm with the three weights stacked (fused:1), forward and the
// backward's two products each (gradients of input and weight).
void BM_QkvProjection(benchmark::State& state) {
  const bool fused = state.range(0) != 0;
  const std::int64_t d = DistilBertConfig().dim, tokens = kBatch * kLength;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  auto opts = torch::TensorOptions(g_device).dtype(gemm_dtype());
  auto x = torch::empty({tokens, d}).normal_(0, 1, gen).to(opts);
  auto w = torch::empty({3 * d, d}).normal_(0, 0.02, gen).to(opts);
  auto b = torch::zeros({3 * d}, opts);
  auto grad_out = torch::empty({tokens, 3 * d}).normal_(0, 1, gen).to(opts);
  std::vector<torch::Tensor> ws, bs, grads;  // the three projections' own contiguous tensors
  for (std::int64_t i = 0; i < 3; ++i) {
    ws.push_back(w.narrow(0, i * d, d).contiguous());
    bs.push_back(b.narrow(0, i * d, d).contiguous());
    grads.push_back(grad_out.narrow(1, i * d, d).contiguous());
  }
  torch::NoGradGuard no_grad;
  for (auto _ : state) {
    if (fused) {
      auto y = torch::addmm(b, x, w.t());
      auto dx = torch::mm(grad_out, w);
      auto dw = torch::mm(grad_out.t(), x);
      benchmark::DoNotOptimize(y.data_ptr());
      benchmark::DoNotOptimize(dx.data_ptr());
      benchmark::DoNotOptimize(dw.data_ptr());
    } else {
      torch::Tensor dx;
      for (std::size_t i = 0; i < 3; ++i) {
        auto y = torch::addmm(bs[i], x, ws[i].t());
        auto dxi = torch::mm(grads[i], ws[i]);
        dx = i == 0 ? dxi : dx.add_(dxi);
        auto dw = torch::mm(grads[i].t(), x);
        benchmark::DoNotOptimize(y.data_ptr());
        benchmark::DoNotOptimize(dw.data_ptr());
      }
      benchmark::DoNotOptimize(dx.data_ptr());
    }
    synchronize();
  }
  state.counters["gflops"] = benchmark::Counter(static_cast<double>(state.iterations()) * 3 * 2.0 * tokens * d * 3 * d / 1e9,
                                                benchmark::Counter::kIsRate);
}

// Loading cached batches as a run does: the token cache of an IMDB-sized training split
// (25,000 rows of 128 ids, the length most reviews are cut to) read and checked, then every
// batch of one shuffled epoch made from it (Batcher, B=16, padded to the longest row).
// s_per_batch is that time over the epoch's batches, the data's cost per step; a run reads
// the file once for all its epochs, so this charges the read more than a run pays.
void BM_CachedBatches(benchmark::State& state) {
  namespace fs = std::filesystem;
  constexpr std::int64_t kRows = 25000;
  const fs::path folder = fs::temp_directory_path() / ("loraft-bench-" + std::to_string(::getpid()));
  const fs::path path = folder / "imdb-shape.h5";
  fs::create_directories(folder);
  {
    loraft::data::TokenCacheFile file;
    std::mt19937_64 gen(11);
    std::uniform_int_distribution<std::int32_t> word(1000, 30000);
    std::vector<std::int32_t> row(kLength);
    row.front() = 101;  // [CLS]
    row.back() = 102;   // [SEP]
    for (std::int64_t i = 0; i < kRows; ++i) {
      for (std::size_t j = 1; j + 1 < row.size(); ++j) row[j] = word(gen);
      file.rows.push_back(row, i % 2);
    }
    file.format_version = loraft::data::kTokenCacheFormatVersion;
    file.key = "bench";
    file.source = "{}";
    file.tokenizer = "bench";
    file.max_length = kLength;
    loraft::data::write_token_cache(path, file);
  }
  loraft::data::BatchOptions options;
  options.batch_size = kBatch;
  options.max_length = kLength;
  options.shuffle = true;
  options.seed = 42;
  double seconds = 0, read_seconds = 0;
  std::int64_t epoch = 0, batches = 0;
  for (auto _ : state) {
    const auto t0 = loraft::Clock::now();
    const auto file = loraft::data::read_token_cache(path);
    read_seconds += loraft::seconds_since(t0);
    const loraft::data::Batcher batcher(file.rows, options);
    for (std::int64_t b = 0; b < batcher.num_batches(); ++b)
      benchmark::DoNotOptimize(batcher.batch(epoch, b).input_ids.data_ptr());
    seconds += loraft::seconds_since(t0);
    batches += batcher.num_batches();
    ++epoch;
  }
  fs::remove_all(folder);
  state.counters["s_per_batch"] = seconds / static_cast<double>(batches);
  state.counters["read_s"] = read_seconds / static_cast<double>(state.iterations());
  state.counters["batches"] = static_cast<double>(batches / state.iterations());
}

BENCHMARK(BM_Gemm2048)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(BM_EvalForward)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(5);
// Full first: LoRA and LoRA+ report their time relative to it.
BENCHMARK_CAPTURE(BM_TrainStep, full, loraft::train::Method::full)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(4);
BENCHMARK(BM_TrainStepPerOpAdamW)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(4);
BENCHMARK_CAPTURE(BM_TrainStep, lora, loraft::train::Method::lora)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(4);
BENCHMARK_CAPTURE(BM_TrainStep, loraplus, loraft::train::Method::loraplus)
    ->Unit(benchmark::kSecond)->UseRealTime()->Iterations(4);
BENCHMARK(BM_AdamWStep)->ArgName("fused")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
// The mini encoder of `make paper` at the same batch shape.
BENCHMARK(BM_MiniEvalForward)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(20);
BENCHMARK_CAPTURE(BM_MiniTrainStep, full, loraft::train::Method::full)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(20);
BENCHMARK_CAPTURE(BM_MiniTrainStep, lora, loraft::train::Method::lora)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(20);
BENCHMARK(BM_QkvProjection)->ArgName("fused")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CachedBatches)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// --peak-rss=full|lora: three training steps of the method in this process, then one JSON line
// with the process's peak RSS, the bytes of the trainable parameters and of the optimizer's
// moments, and how many frozen parameters have optimizer state (LoRA keeps none for them).
void run_memory_probe() {
  TrainRig rig(g_memory_probe == "full" ? loraft::train::Method::full : loraft::train::Method::lora, Encoder::base);
  for (int i = 0; i < 3; ++i) rig.step();
  synchronize();
  std::set<std::string> trainable;
  double trainable_bytes = 0, moment_bytes = 0;
  for (const auto& p : rig.s.model->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    trainable.insert(p.key());
    trainable_bytes += static_cast<double>(p.value().nbytes());
  }
  int frozen_with_state = 0;
  for (const auto& [key, tensor] : rig.optimizer.state()) {
    const std::string param = key.substr(0, key.rfind('.'));
    if (trainable.count(param) == 0) ++frozen_with_state;
    if (!loraft::ends_with(key, ".step")) moment_bytes += static_cast<double>(tensor.nbytes());
  }
  std::printf("{\"peak_rss_mib\": %.1f, \"trainable_bytes\": %.0f, \"moment_bytes\": %.0f, \"frozen_with_state\": %d}\n",
              loraft::peak_rss_mib(), trainable_bytes, moment_bytes, frozen_with_state);
}

// What a --peak-rss=MODE process of this program reports; nullopt (and a warning) if it failed.
std::optional<loraft::io::Json> memory_probe(const std::string& mode) {
  std::vector<std::string> argv = {std::filesystem::read_symlink("/proc/self/exe").string(), "--peak-rss=" + mode};
  argv.insert(argv.end(), g_device_flags.begin(), g_device_flags.end());
  const auto result = loraft::run_program(argv);
  try {
    if (result.status == 0) return loraft::io::Json::parse(result.output);
  } catch (const std::exception&) {
  }
  std::fprintf(stderr, "bench_model: --peak-rss=%s ended with status %d, printing: %s\n", mode.c_str(), result.status,
               result.output.c_str());
  return std::nullopt;
}

// The Python stack's figure `field` for `mode`, the mean over the runs recorded in
// tests/fixtures/reference_throughput.json.
std::optional<double> reference(const std::string& mode, const std::string& field) {
  const auto json = loraft::io::read_json(kSourceDir / "tests/fixtures/reference_throughput.json");
  double sum = 0;
  int n = 0;
  for (const auto& run : json.at("runs"))
    for (const auto& r : run.at("results"))
      if (r.at("mode") == mode) {
        sum += r.at(field).get<double>();
        ++n;
      }
  return n > 0 ? std::optional<double>(sum / n) : std::nullopt;
}

// The performance issue's targets, from this run's results.
std::vector<loraft::bench::Target> model_targets(const loraft::bench::Results& r) {
  using loraft::bench::ratio;
  using loraft::bench::Target;
  using Kind = Target::Kind;
  const auto full_s = r.get("BM_TrainStep/full", "s_per_step"), mini_s = r.get("BM_MiniTrainStep/full", "s_per_step");
  const auto full_mfu = r.get("BM_TrainStep/full", "mfu"), eval_mfu = r.get("BM_EvalForward", "mfu");
  const auto lora_mfu = r.get("BM_TrainStep/lora", "mfu");
  const std::string py = "Python stack's ";
  std::vector<Target> t = {
      {"full fine-tuning step, MFU", full_mfu, Kind::at_least, 0.85, 100, " %", 1, "vs the 2048^3 GEMM rate of this process"},
      {"eval forward, MFU", eval_mfu, Kind::at_least, 0.85, 100, " %", 1, ""},
      {"LoRA r=8 q/v step / full step", ratio(r.get("BM_TrainStep/lora", "s_per_step"), full_s), Kind::at_most, 0.70,
       1, "x", 3, "time"},
      {"LoRA+ step / full step", ratio(r.get("BM_TrainStep/loraplus", "s_per_step"), full_s), Kind::at_most, 0.70, 1,
       "x", 3, "time"},
  };
  const auto py_full = reference("full", "mfu_vs_gemm"), py_lora = reference("lora", "mfu_vs_gemm"),
             py_eval = reference("eval", "mfu_vs_gemm");
  auto mfu_note = [&](std::optional<double> v) {
    return py + (v ? loraft::bench::format_value(*v, {"", v, Kind::info, 0, 100, " %", 1, ""}) : "?") +
           " (reference_throughput.json)";
  };
  t.push_back({"full step MFU / Python's", ratio(full_mfu, py_full), Kind::at_least, 1.3, 1, "x", 2, mfu_note(py_full)});
  t.push_back({"eval MFU / Python's", ratio(eval_mfu, py_eval), Kind::at_least, 1.3, 1, "x", 2, mfu_note(py_eval)});
  t.push_back({"LoRA step MFU / Python's", ratio(lora_mfu, py_lora), Kind::info, 0, 1, "x", 2, mfu_note(py_lora)});
  // Peak RSS of full and LoRA training, each in its own process.
  for (const std::string mode : {"full", "lora"}) {
    if (!r.ran(mode == "full" ? "BM_TrainStep/full" : "BM_TrainStep/lora")) continue;
    const auto probe = memory_probe(mode);
    const auto py_rss = reference(mode, "peak_rss_mb");
    std::optional<double> rss, moments_per_weight, frozen;
    if (probe) {
      rss = probe->at("peak_rss_mib").get<double>();
      moments_per_weight = probe->at("moment_bytes").get<double>() / probe->at("trainable_bytes").get<double>();
      frozen = probe->at("frozen_with_state").get<double>();
    }
    char note[96];
    std::snprintf(note, sizeof note, "%s%.0f MiB; own process, 3 steps", py.c_str(), py_rss.value_or(0));
    t.push_back({mode + " training, peak RSS", rss, Kind::at_most, py_rss.value_or(0), 1, " MiB", 0, note});
    t.push_back({mode + " training, optimizer moments / trainable bytes", moments_per_weight, Kind::at_most, 2, 1, "x",
                 3, "exp_avg and exp_avg_sq of trainable weights only"});
    t.push_back({mode + " training, frozen parameters with optimizer state", frozen, Kind::at_most, 0, 1, "", 0, ""});
  }
  const auto batch_s = r.get("BM_CachedBatches", "s_per_batch");
  t.push_back({"loading cached batches / full step", ratio(batch_s, full_s), Kind::at_most, 0.02, 100, " %", 4,
               "BM_CachedBatches"});
  t.push_back({"loading cached batches / mini encoder's full step", ratio(batch_s, mini_s), Kind::at_most, 0.02, 100,
               " %", 2, "the step `make paper` runs"});
  t.push_back({"AdamW update, fused / one operation at a time", ratio(r.get("BM_AdamWStep/fused:1", "real_time_s"),
                                                                    r.get("BM_AdamWStep/fused:0", "real_time_s")),
               Kind::info, 0, 1, "x", 2, "67M parameters, time"});
  t.push_back({"q/k/v as one product / three", ratio(r.get("BM_QkvProjection/fused:1", "real_time_s"),
                                                     r.get("BM_QkvProjection/fused:0", "real_time_s")),
               Kind::info, 0, 1, "x", 3, "one layer's forward and backward products, time"});
  t.push_back({"mini encoder's full step, MFU", r.get("BM_MiniTrainStep/full", "mfu"), Kind::info, 0, 100, " %", 1,
               "per-op overhead, not GEMM, dominates at width 128"});
  t.push_back({"mini encoder's full step", mini_s, Kind::info, 0, 1e3, " ms", 1, ""});
  t.push_back({"mini encoder's LoRA step / full step", ratio(r.get("BM_MiniTrainStep/lora", "s_per_step"), mini_s),
               Kind::info, 0, 1, "x", 3, ""});
  return t;
}

// --profile: the per-op profile of one mode's step (after two warm-up steps), as Markdown.
void run_profile() {
  const std::string& mode = g_profile;
  const int steps = g_profile_steps;
  const char* model = g_profile_encoder == Encoder::mini ? "mini-distilbert" : "distilbert-base";
  std::printf("loraft %s step, %s, B=%lld, T=%lld, torch %s, %d threads (LibTorch intra-op %d, BLAS %d: %s)\n",
              mode.c_str(), model, static_cast<long long>(kBatch), static_cast<long long>(kLength), TORCH_VERSION,
              loraft::num_threads(), at::get_num_threads(), loraft::blas_threads(), loraft::blas_threading());
  loraft::bench::OpProfile profile;
  if (mode == "eval") {
    EvalRig rig(g_profile_encoder);
    auto forward = [&] {
      benchmark::DoNotOptimize(rig.step().data_ptr());
      synchronize();
    };
    forward();
    forward();
    profile = loraft::bench::profile_ops(forward, steps);
  } else {
    TrainRig rig(mode == "full" ? loraft::train::Method::full : loraft::train::Method::lora, g_profile_encoder);
    auto step = [&] {
      rig.step();
      synchronize();
    };
    step();
    step();
    profile = loraft::bench::profile_ops(step, steps);
  }
  loraft::bench::print_op_profile(profile, 25);
}

// Takes --device=NAME, --autocast=none|bf16|fp16, --profile=MODE[:STEPS],
// --profile-model=base|mini and --peak-rss=full|lora out of argv (Google Benchmark refuses
// flags it does not know).
void parse_own_flags(int& argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (loraft::starts_with(arg, "--device=")) {
      g_device = loraft::available_device(arg.substr(9));
      g_device_flags.push_back(arg);
    } else if (loraft::starts_with(arg, "--autocast=")) {
      g_autocast = loraft::train::parse_autocast(arg.substr(11), "--autocast");
      g_device_flags.push_back(arg);
    } else if (arg == "--peak-rss=full" || arg == "--peak-rss=lora") {
      g_memory_probe = arg.substr(11);
    } else if (loraft::starts_with(arg, "--profile=")) {
      const std::string value = arg.substr(10);
      const auto colon = value.find(':');
      g_profile = value.substr(0, colon);
      const std::string steps = colon == std::string::npos ? "3" : value.substr(colon + 1);
      g_profile_steps = steps.size() == 1 && steps[0] >= '1' && steps[0] <= '9' ? steps[0] - '0' : 0;
      if (g_profile_steps == 0 || (g_profile != "full" && g_profile != "lora" && g_profile != "eval"))
        throw std::invalid_argument("--profile takes full, lora or eval, optionally :STEPS (1 to 9), not " + value);
    } else if (arg == "--profile-model=mini" || arg == "--profile-model=base") {
      g_profile_encoder = arg == "--profile-model=mini" ? Encoder::mini : Encoder::base;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  loraft::train::check_autocast(g_autocast, g_device);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    parse_own_flags(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_model: %s\n", e.what());
    return 2;
  }
  // Debian's LibTorch starts with one thread; use every core as the reference (2 threads).
  const int threads = loraft::configure_threads();
  if (!g_profile.empty()) {
    run_profile();
    return 0;
  }
  if (!g_memory_probe.empty()) {
    run_memory_probe();
    return 0;
  }
  g_gemm_flops_per_s = measure_gemm_rate();
  benchmark::AddCustomContext("torch", TORCH_VERSION);
  benchmark::AddCustomContext("device", g_device.str());
  benchmark::AddCustomContext("autocast", loraft::train::to_string(g_autocast));
  benchmark::AddCustomContext("attention", loraft::model::default_attn_implementation());
  benchmark::AddCustomContext("threads", std::to_string(threads));
  benchmark::AddCustomContext("blas", loraft::blas_threading());
  benchmark::AddCustomContext("intra_op_threads", std::to_string(at::get_num_threads()));
  benchmark::AddCustomContext("gemm_2048_gflops", std::to_string(g_gemm_flops_per_s / 1e9));
  return loraft::bench::run_with_targets(argc, argv, "Targets of bench_model, measured in this run", model_targets);
}
