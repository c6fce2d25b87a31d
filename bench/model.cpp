// DistilBERT throughput at the report's shape (distilbert-base, batch 16, length 128), the
// C++ counterpart of the Python reference's ref_throughput.py, whose numbers are in
// tests/fixtures/reference_throughput.json. Each training step is loraft's own
// (train::prepare_model + train::train_step: Trainer decay groups or PEFT's LoRA+ groups,
// loraft's AdamW, clipping at 1.0), as a run trains.
//
//   build/bench/bench_model                                 # CPU, float32, everything
//   build/bench/bench_model --benchmark_filter=Train        # the training steps only
//   build/bench/bench_model --device=cuda --autocast=bf16   # on a GPU, bf16 autocast
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

#include <chrono>
#include <cstdio>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "loraft/core/strings.h"
#include "loraft/core/threads.h"
#include "loraft/core/timing.h"
#include "loraft/model/distilbert.h"
#include "loraft/train/trainer.h"

namespace {

using loraft::model::DistilBertConfig;
using loraft::model::DistilBertForSequenceClassification;
using loraft::train::Autocast;

constexpr std::int64_t kBatch = 16;
constexpr std::int64_t kLength = 128;
constexpr std::int64_t kGemmN = 2048;

torch::Device g_device = torch::kCPU;  // --device
Autocast g_autocast = Autocast::none;  // --autocast
double g_gemm_flops_per_s = 0;         // measured once in main()
double g_full_step_s = 0;              // the full fine-tuning step of this run, for vs_full

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

struct Setup {
  DistilBertConfig config;  // DistilBertConfig() = distilbert-base-uncased, 2 labels
  DistilBertForSequenceClassification model{config, 20241118};
  loraft::data::Batch batch;
  Setup() {
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

// Eval mode, no autograd: the reference's mode (c).
void BM_EvalForward(benchmark::State& state) {
  Setup s;
  s.model->eval();
  s.model->to(g_device);
  torch::NoGradGuard no_grad;
  auto ids = s.batch.input_ids.to(g_device), mask = s.batch.attention_mask.to(g_device);
  auto forward = [&] {
    loraft::train::AutocastGuard guard(g_autocast, g_device);
    return s.model->forward(ids, mask);
  };
  auto logits = forward();  // warm-up
  double seconds = 0;
  for (auto _ : state) {
    auto t0 = loraft::Clock::now();
    logits = forward();
    benchmark::DoNotOptimize(logits.data_ptr());
    seconds += synchronized_seconds_since(t0);
  }
  set_counters(state, step_matmul_flops(s.config, "eval"), seconds);
}

// Train mode (dropout on): one Trainer step of `method` with the report's settings (LoRA r 8,
// alpha 32, dropout 0.1 on q_lin/v_lin, the head as PEFT's modules_to_save; LoRA+ ratio 2):
// the reference's modes (a) full and (b) LoRA.
void BM_TrainStep(benchmark::State& state, loraft::train::Method method) {
  Setup s;
  s.model->train();
  s.model->to(g_device);
  loraft::train::TrainConfig config;  // the report's settings
  config.method = method;
  loraft::optim::AdamW optimizer(loraft::train::prepare_model(s.model, config));
  s.model->to(g_device);  // the LoRA matrices prepare_model added
  loraft::train::StepOptions options;
  options.max_grad_norm = config.max_grad_norm;
  options.autocast = g_autocast;
  const std::vector<loraft::data::Batch> micro_batches{s.batch};
  auto step = [&] { return loraft::train::train_step(s.model, optimizer, micro_batches, options); };
  step();  // warm-up (allocates the optimizer state)
  double seconds = 0;
  for (auto _ : state) {
    auto t0 = loraft::Clock::now();
    auto result = step();
    benchmark::DoNotOptimize(result.loss);
    seconds += synchronized_seconds_since(t0);
  }
  const double per_step = seconds / static_cast<double>(state.iterations());
  const bool full = method == loraft::train::Method::full;
  set_counters(state, step_matmul_flops(s.config, full ? "full" : "lora", config.lora.r), seconds);
  if (full) g_full_step_s = per_step;
  else if (g_full_step_s > 0) state.counters["vs_full"] = per_step / g_full_step_s;
}

BENCHMARK(BM_Gemm2048)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(BM_EvalForward)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(5);
// Full first: LoRA and LoRA+ report their time relative to it.
BENCHMARK_CAPTURE(BM_TrainStep, full, loraft::train::Method::full)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(4);
BENCHMARK_CAPTURE(BM_TrainStep, lora, loraft::train::Method::lora)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(4);
BENCHMARK_CAPTURE(BM_TrainStep, loraplus, loraft::train::Method::loraplus)
    ->Unit(benchmark::kSecond)->UseRealTime()->Iterations(4);

// Takes --device=NAME and --autocast=none|bf16|fp16 out of argv (Google Benchmark refuses
// flags it does not know).
void parse_own_flags(int& argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (loraft::starts_with(arg, "--device=")) {
      g_device = loraft::available_device(arg.substr(9));
    } else if (loraft::starts_with(arg, "--autocast=")) {
      g_autocast = loraft::train::parse_autocast(arg.substr(11), "--autocast");
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
  g_gemm_flops_per_s = measure_gemm_rate();
  benchmark::AddCustomContext("torch", TORCH_VERSION);
  benchmark::AddCustomContext("device", g_device.str());
  benchmark::AddCustomContext("autocast", loraft::train::to_string(g_autocast));
  benchmark::AddCustomContext("attention", loraft::model::default_attn_implementation());
  benchmark::AddCustomContext("threads", std::to_string(threads));
  benchmark::AddCustomContext("gemm_2048_gflops", std::to_string(g_gemm_flops_per_s / 1e9));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
