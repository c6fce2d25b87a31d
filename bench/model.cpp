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

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "loraft/core/strings.h"
#include "loraft/core/threads.h"
#include "loraft/core/timing.h"
#include "loraft/model/distilbert.h"
#include "loraft/model/pretrained.h"
#include "loraft/train/trainer.h"
#include "op_profile.h"

namespace {

using loraft::model::DistilBertConfig;
using loraft::model::DistilBertForSequenceClassification;
using loraft::train::Autocast;

constexpr std::int64_t kBatch = 16;
constexpr std::int64_t kLength = 128;
constexpr std::int64_t kGemmN = 2048;
const std::filesystem::path kSourceDir = LORAFT_SOURCE_DIR;

// Which encoder a benchmark runs: distilbert-base-uncased's shape with random weights, or the
// mini encoder that `make paper` fine-tunes (data/models/mini-distilbert, 2 layers of width 128).
enum class Encoder { base, mini };

torch::Device g_device = torch::kCPU;  // --device
Autocast g_autocast = Autocast::none;  // --autocast
double g_gemm_flops_per_s = 0;         // measured once in main()
double g_full_step_s[2] = {0, 0};      // the full fine-tuning step of this run per Encoder, for vs_full
std::string g_profile;                 // --profile=MODE: profile MODE's step instead of benchmarking
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

// Eval mode, no autograd: the reference's mode (c).
void eval_forward(benchmark::State& state, Encoder encoder) {
  Setup s(encoder);
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
  rig.step();  // warm-up (allocates the optimizer state)
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

// --profile: the per-op profile of one mode's step (after two warm-up steps), as Markdown.
void run_profile() {
  const std::string& mode = g_profile;
  const int steps = g_profile_steps;
  const char* model = g_profile_encoder == Encoder::mini ? "mini-distilbert" : "distilbert-base";
  std::printf("loraft %s step, %s, B=%lld, T=%lld, torch %s, %d threads (LibTorch intra-op %d, BLAS %d)\n",
              mode.c_str(), model, static_cast<long long>(kBatch), static_cast<long long>(kLength), TORCH_VERSION,
              loraft::num_threads(), at::get_num_threads(), loraft::blas_threads());
  loraft::bench::OpProfile profile;
  if (mode == "eval") {
    Setup s(g_profile_encoder);
    s.model->eval();
    s.model->to(g_device);
    torch::NoGradGuard no_grad;
    auto ids = s.batch.input_ids.to(g_device), mask = s.batch.attention_mask.to(g_device);
    auto forward = [&] {
      loraft::train::AutocastGuard guard(g_autocast, g_device);
      benchmark::DoNotOptimize(s.model->forward(ids, mask).data_ptr());
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

// Takes --device=NAME, --autocast=none|bf16|fp16, --profile=MODE[:STEPS] and
// --profile-model=base|mini out of argv (Google Benchmark refuses
// flags it does not know).
void parse_own_flags(int& argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (loraft::starts_with(arg, "--device=")) {
      g_device = loraft::available_device(arg.substr(9));
    } else if (loraft::starts_with(arg, "--autocast=")) {
      g_autocast = loraft::train::parse_autocast(arg.substr(11), "--autocast");
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
