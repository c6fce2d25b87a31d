// The CUDA path against the CPU path: forward and backward, a whole Trainer run, bf16 autocast,
// fp16 with the loss scaler, bitwise resume, and an adapter trained on the GPU used on the CPU.
// These tests need a CUDA device. CTest runs them as the entry `train_cuda` (label `cuda`), which
// reports them as skipped, with the reason, where no device exists; `ctest -L cuda` runs them on
// a GPU machine (scripts/device-check.sh).
//
// Tolerances: float32 on both sides, but cuBLAS and the CPU's BLAS sum in different orders, so
// results agree to float32 rounding of those sums (relative 1e-4 of each tensor's largest
// value), not bit for bit. TF32 stays off (LibTorch's default for matmul), or they would not.
#include <gtest/gtest.h>

#include "loraft/adapter/lora.h"
#include "loraft/io/safetensors.h"
#include "support/tensor_support.h"
#include "train_support.h"

namespace loraft::train {
namespace {

using io::Json;
using namespace testing_support;

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: the CUDA path was not tested";
  }
};

using loraft::testing::relative_error;

// Logits and every trainable parameter's gradient of the mean cross-entropy on the fixture
// batch, dropouts off, on `device`; with LoRA (B drawn non-zero) when `lora`.
std::pair<torch::Tensor, std::map<std::string, torch::Tensor>> forward_backward(const torch::Device& device,
                                                                                bool lora) {
  auto m = tiny(/*no_dropout=*/true);
  if (lora) {
    adapter::LoraConfig c;
    c.r = 4;
    c.lora_alpha = 16;
    c.lora_dropout = 0;
    adapter::apply_lora(*m, c, 7);
    torch::manual_seed(8);
    torch::NoGradGuard no_grad;
    for (auto& [name, layer] : adapter::lora_layers(*m)) layer->lora_B->weight.normal_(0, 0.5);
  }
  m->to(device);
  auto batch = io::load_safetensors(loraft::testing::fixture("full/batch.safetensors"));
  auto logits = m->forward(batch.at("input_ids").to(device), batch.at("attention_mask").to(device));
  torch::nn::functional::cross_entropy(logits, batch.at("labels").to(device)).backward();
  std::map<std::string, torch::Tensor> grads;
  for (auto& p : m->named_parameters())
    if (p.value().requires_grad()) grads[p.key()] = p.value().grad().to(torch::kCPU);
  return {logits.detach().to(torch::kCPU), grads};
}

TEST_F(Cuda, ForwardAndBackwardEqualTheCpuFullAndLora) {
  for (bool lora : {false, true}) {
    SCOPED_TRACE(lora ? "LoRA" : "full");
    auto [cpu_logits, cpu_grads] = forward_backward(torch::kCPU, lora);
    auto [gpu_logits, gpu_grads] = forward_backward(torch::kCUDA, lora);
    EXPECT_LE(relative_error(gpu_logits, cpu_logits), 1e-5);
    ASSERT_EQ(gpu_grads.size(), cpu_grads.size());
    for (auto& [name, g] : cpu_grads) {
      if (name.find("k_lin.bias") != std::string::npos) continue;  // true gradient 0: rounding noise only
      EXPECT_LE(relative_error(gpu_grads.at(name), g), 1e-4) << name;
    }
  }
}

TEST_F(Cuda, TrainerRunMatchesTheCpu) {
  // Dropout off on both sides: the two devices draw from different generators.
  auto train = synthetic_rows(40, 31), eval = synthetic_rows(20, 32);
  for (Method method : {Method::full, Method::lora}) {
    SCOPED_TRACE(to_string(method));
    TrainConfig c = small_config(method);
    c.lora.lora_dropout = 0;
    loraft::testing::ScratchDir dir;
    RunResult cpu = Trainer(tiny(true), train, eval, c, Json{}, options_in(dir)).run();
    c.device = "cuda";
    RunResult gpu = Trainer(tiny(true), train, eval, c, Json{}, options_in(dir)).run();
    EXPECT_NE(gpu.run_dir, cpu.run_dir);  // the device is part of the configuration
    const double loss_cpu = cpu.summary["final"]["eval_loss"], loss_gpu = gpu.summary["final"]["eval_loss"];
    EXPECT_NEAR(loss_gpu, loss_cpu, 1e-4 * loss_cpu);
    // An argmax can flip only where two logits tie to rounding: at most one row of 20 here.
    EXPECT_NEAR(gpu.summary["final"]["eval_accuracy"].get<double>(),
                cpu.summary["final"]["eval_accuracy"].get<double>(), 1.0 / 20 + 1e-12);
  }
}

TEST_F(Cuda, Bf16AutocastLogitsAreNearFloat32) {
  auto m = tiny();
  m->eval();
  m->to(torch::kCUDA);
  auto batch = batches_of(synthetic_rows(16, 33), 16)[0];
  auto ids = batch.input_ids.to(torch::kCUDA), mask = batch.attention_mask.to(torch::kCUDA);
  torch::NoGradGuard no_grad;
  torch::Tensor reference = m->forward(ids, mask), mixed;
  {
    AutocastGuard guard(Autocast::bf16, torch::kCUDA);
    mixed = m->forward(ids, mask);
  }
  EXPECT_EQ(mixed.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::allclose(mixed.to(torch::kFloat32), reference, 0.05, 0.05))
      << "max diff " << (mixed.to(torch::kFloat32) - reference).abs().max().item<float>();
  EXPECT_TRUE(torch::equal(m->forward(ids, mask), reference));  // the guard is gone
}

TEST_F(Cuda, Fp16LossScalerSkipsOverflowingStepsAndGrows) {
  auto m = tiny(true);
  m->to(torch::kCUDA);
  TrainConfig c = small_config(Method::full);
  optim::AdamW optimizer(prepare_model(m, c));
  optim::GradScalerOptions so;
  so.init_scale = std::ldexp(1.0, 40);  // scaled float16 gradients overflow (max 65504)
  so.growth_interval = 2;
  optim::GradScaler scaler(so);
  StepOptions o;
  o.autocast = Autocast::fp16;
  o.scaler = &scaler;
  auto batches = batches_of(synthetic_rows(8, 34), 8);
  for (auto& b : batches) b.input_ids = b.input_ids.to(torch::kCUDA), b.attention_mask = b.attention_mask.to(torch::kCUDA);

  auto before = m->named_parameters()["classifier.weight"].detach().clone();
  StepResult first = train_step(m, optimizer, batches, o);
  EXPECT_TRUE(first.skipped);
  EXPECT_EQ(scaler.scale(), std::ldexp(1.0, 39));  // backed off by 0.5
  EXPECT_TRUE(torch::equal(m->named_parameters()["classifier.weight"], before));  // no update
  int skipped = 1;
  StepResult r = first;
  while (r.skipped && skipped < 40) {
    r = train_step(m, optimizer, batches, o);
    skipped += r.skipped;
  }
  ASSERT_FALSE(r.skipped) << "the scale never came down to a finite step";
  EXPECT_FALSE(torch::equal(m->named_parameters()["classifier.weight"], before));  // updated
  const double settled = scaler.scale();
  EXPECT_EQ(scaler.growth_tracker(), 1);
  r = train_step(m, optimizer, batches, o);  // the second clean step in a row grows the scale
  if (!r.skipped) {
    EXPECT_EQ(scaler.scale(), 2 * settled);
  }
}

TEST_F(Cuda, ResumeAfterInterruptionIsBitwise) {
  // Bitwise needs deterministic kernels (and CUBLAS_WORKSPACE_CONFIG, set by the CTest entry).
  const bool was = at::globalContext().deterministicAlgorithms();
  at::globalContext().setDeterministicAlgorithms(true, false);
  check_resume(Method::lora, 3, 1, 12, "cuda");
  check_resume(Method::full, 7, 1, 12, "cuda");
  at::globalContext().setDeterministicAlgorithms(was, false);
}

TEST_F(Cuda, AdapterTrainedOnTheGpuPredictsTheSameOnTheCpu) {
  loraft::testing::ScratchDir dir;
  auto train = synthetic_rows(40, 35), eval = synthetic_rows(10, 36);
  TrainConfig c = small_config(Method::lora);
  c.epochs = 1;
  c.device = "cuda";
  Trainer t(tiny(), train, eval, c, Json{}, options_in(dir));
  RunResult r = t.run();
  auto inputs = loraft::testing::fixture("distilbert-tiny/inputs.safetensors");
  auto in = io::load_safetensors(inputs);
  t.model()->eval();
  torch::Tensor gpu_logits;
  {
    torch::NoGradGuard no_grad;
    gpu_logits = t.model()->forward(in.at("input_ids").to(torch::kCUDA), in.at("attention_mask").to(torch::kCUDA));
  }
  auto p = loraft::testing::run_process({loraft::testing::program("loraft-predict").string(), "--model",
                                         loraft::testing::fixture("distilbert-tiny").string(), "--adapter",
                                         (r.run_dir / "final").string(), "--input", inputs.string(), "--output",
                                         (dir / "out.safetensors").string()});  // loraft-predict runs on the CPU
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_LE(relative_error(io::load_safetensors(dir / "out.safetensors").at("logits"), gpu_logits), 1e-5);
}

}  // namespace
}  // namespace loraft::train
