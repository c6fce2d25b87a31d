// DistilBERT throughput at the report's shape (distilbert-base, batch 16, length 128), the
// C++ counterpart of tools/ref_throughput.py whose numbers are in
// tests/fixtures/reference_throughput.json.
//
//   build/bench/bench_model                       # all three
//   build/bench/bench_model --benchmark_filter=Train
//
// Counters: s_per_step (wall clock), samples_per_s; gflops (matmul FLOPs only, the
// reference's analytic count); mfu = gflops / the fp32 GEMM rate (2048^3 torch::mm) measured
// at start-up in this process, the reference's "achieved vs fp32 GEMM".
//
// LibTorch's matrix products run on the system BLAS (libblas.so.3): with Debian's reference
// (netlib) BLAS a 2048^3 GEMM reaches about 2 GFLOP/s, with OpenBLAS (libopenblas0-pthread,
// what the Python reference ran on) well over 100. Check gemm_gflops before comparing.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "loraft/core/threads.h"
#include "loraft/model/distilbert.h"

namespace {

using loraft::model::DistilBertConfig;
using loraft::model::DistilBertForSequenceClassification;

constexpr std::int64_t kBatch = 16;
constexpr std::int64_t kLength = 128;
constexpr std::int64_t kGemmN = 2048;

double g_gemm_flops_per_s = 0;  // measured once in main()

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// fp32 GEMM rate: best of a few 2048^3 products after one warm-up.
double measure_gemm_rate() {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto a = torch::empty({kGemmN, kGemmN}).normal_(0, 1, gen);
  auto b = torch::empty({kGemmN, kGemmN}).normal_(0, 1, gen);
  auto c = torch::mm(a, b);
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    torch::mm_out(c, a, b);
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * kGemmN * kGemmN * kGemmN / best;
}

// Matmul FLOPs of one forward pass (2 per multiply-add), as the reference counts them:
// q/k/v/out projections, the FFN, QK^T and weights*V per layer, plus the classifier head.
double forward_matmul_flops(const DistilBertConfig& c, std::int64_t batch, std::int64_t length) {
  const double tokens = static_cast<double>(batch * length);
  const double d = static_cast<double>(c.dim), h = static_cast<double>(c.hidden_dim);
  const double per_layer = 4 * 2 * tokens * d * d      // q_lin, k_lin, v_lin, out_lin
                           + 2 * 2 * tokens * d * h    // lin1, lin2
                           + 2 * 2 * tokens * static_cast<double>(length) * d;  // scores, context
  const double head = 2.0 * batch * d * d + 2.0 * batch * d * static_cast<double>(c.num_labels());
  return static_cast<double>(c.n_layers) * per_layer + head;
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux reports KiB
}

struct Setup {
  DistilBertConfig config;  // DistilBertConfig() = distilbert-base-uncased, 2 labels
  DistilBertForSequenceClassification model{config, 20241118};
  torch::Tensor input_ids, attention_mask, labels;
  Setup() {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    input_ids = torch::randint(config.vocab_size, {kBatch, kLength}, gen, torch::kLong);
    attention_mask = torch::ones({kBatch, kLength}, torch::kLong);
    labels = torch::randint(config.num_labels(), {kBatch}, gen, torch::kLong);
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
  state.counters["peak_rss_mib"] = peak_rss_mib();
}

void BM_Gemm2048(benchmark::State& state) {
  torch::NoGradGuard no_grad;
  auto a = torch::ones({kGemmN, kGemmN}), b = torch::ones({kGemmN, kGemmN});
  auto c = torch::mm(a, b);
  for (auto _ : state) torch::mm_out(c, a, b);
  state.counters["gflops"] = benchmark::Counter(static_cast<double>(state.iterations()) * 2.0 * kGemmN * kGemmN *
                                                    kGemmN / 1e9,
                                                benchmark::Counter::kIsRate);
}

// Eval mode, no autograd: the reference's mode (c).
void BM_EvalForward(benchmark::State& state) {
  Setup s;
  s.model->eval();
  torch::NoGradGuard no_grad;
  auto logits = s.model->forward(s.input_ids, s.attention_mask);  // warm-up
  double seconds = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    logits = s.model->forward(s.input_ids, s.attention_mask);
    benchmark::DoNotOptimize(logits.data_ptr());
    seconds += seconds_since(t0);
  }
  set_counters(state, forward_matmul_flops(s.config, kBatch, kLength), seconds);
}

// Train mode (dropout on), forward + cross-entropy, backward, clip_grad_norm_(1.0), AdamW:
// the reference's mode (a), full fine-tuning.
void BM_TrainStep(benchmark::State& state) {
  Setup s;
  s.model->train();
  torch::optim::AdamW optimizer(s.model->parameters(),
                                torch::optim::AdamWOptions(5e-5).betas({0.9, 0.999}).eps(1e-8).weight_decay(0.01));
  auto step = [&] {
    optimizer.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(s.model->forward(s.input_ids, s.attention_mask), s.labels);
    loss.backward();
    torch::nn::utils::clip_grad_norm_(s.model->parameters(), 1.0);
    optimizer.step();
    return loss;
  };
  step();  // warm-up (allocates the optimizer state)
  double seconds = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    auto loss = step();
    benchmark::DoNotOptimize(loss.data_ptr());
    seconds += seconds_since(t0);
  }
  // Backward costs twice the forward's matmuls (input and weight gradients).
  set_counters(state, 3 * forward_matmul_flops(s.config, kBatch, kLength), seconds);
}

BENCHMARK(BM_Gemm2048)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(BM_EvalForward)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(5);
BENCHMARK(BM_TrainStep)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(4);

}  // namespace

int main(int argc, char** argv) {
  // Debian's LibTorch starts with one thread; use every core as the reference (2 threads).
  const int threads = loraft::configure_threads();
  g_gemm_flops_per_s = measure_gemm_rate();
  benchmark::AddCustomContext("torch", TORCH_VERSION);
  benchmark::AddCustomContext("threads", std::to_string(threads));
  benchmark::AddCustomContext("gemm_2048_gflops", std::to_string(g_gemm_flops_per_s / 1e9));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
