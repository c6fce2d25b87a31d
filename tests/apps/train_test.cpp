// loraft-train end to end: the tiny fixture model on a few hundred real AG News rows, one
// epoch, for each method (full, LoRA, LoRA+, DoRA, IA3, prompt tuning); the run record, the PEFT adapter or checkpoint it leaves, reuse of
// a finished run, and errors as one line with exit status 2.
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "loraft/io/file.h"
#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"
#include "support/test_support.h"

namespace loraft {
namespace {

using io::Json;
namespace fs = std::filesystem;

testing::ProcessResult train(const testing::ScratchDir& dir, const std::string& method,
                             std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{
      testing::program("loraft-train").string(),
      "--model", testing::fixture("distilbert-tiny").string(),
      "--train", "ag_news:" + testing::data_file("samples/ag_news/train.csv").string(),
      "--eval", "ag_news:" + testing::data_file("samples/ag_news/test.csv").string(),
      "--train-limit", "256", "--eval-limit", "128", "--epochs", "1",
      "--lr", "1e-3", "--method", method,
      "--runs-dir", (dir / "runs").string(), "--cache-dir", (dir / "cache").string()};
  if (method == "lora" || method == "loraplus" || method == "dora")  // the others refuse LoRA settings
    argv.insert(argv.end(), {"--r", "4", "--lora-alpha", "16"});
  // The tiny model has 64 positions; prompt tuning's 4 virtual tokens take 4 of them.
  if (method == "prompt")
    argv.insert(argv.end(), {"--max-length", "60", "--num-virtual-tokens", "4"});
  else
    argv.insert(argv.end(), {"--max-length", "64"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  return testing::run_process(argv);
}

TEST(LoraftTrain, EveryMethodEndToEnd) {
  testing::ScratchDir dir;
  // PEFT's counts for the tiny model (r=4; 4 virtual tokens): tests/fixtures (lora/, methods/).
  const std::map<std::string, std::pair<std::string, int>> adapters{
      {"lora", {"LORA", 2212}}, {"loraplus", {"LORA", 2212}}, {"dora", {"LORA", 2340}},
      {"ia3", {"IA3", 1444}}, {"prompt", {"PROMPT_TUNING", 1316}}, {"adapter", {"BOTTLENECK", 1512}}};
  for (const std::string method : {"full", "lora", "loraplus", "dora", "ia3", "prompt", "adapter"}) {
    SCOPED_TRACE(method);
    auto r = train(dir, method);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Json out = Json::parse(r.out);
    EXPECT_FALSE(out["reused"].get<bool>());
    const fs::path run = out["run_dir"].get<std::string>();
    Json summary = io::read_json(run / "summary.json");
    EXPECT_EQ(summary["method"], method);
    EXPECT_EQ(summary["steps"], 16);  // 256 rows / batch 16
    EXPECT_EQ(summary["final"]["eval_examples"], 128);
    EXPECT_GT(summary["final"]["eval_accuracy"].get<double>(), 0.0);
    Json config = io::read_json(run / "config.json");
    EXPECT_EQ(config["train"]["method"], method);
    EXPECT_EQ(config["identity"]["train"]["rows"], 256);
    if (method == "full") {
      EXPECT_TRUE(fs::exists(run / "final" / "model.safetensors"));
      EXPECT_EQ(summary["trainable_parameters"], summary["total_parameters"]);
    } else {
      const auto& [peft_type, trainable] = adapters.at(method);
      Json adapter = io::read_json(run / "final" / "adapter_config.json");
      EXPECT_EQ(summary["peft_trainable_parameters"], trainable);
      if (peft_type == "BOTTLENECK") {  // the adapters library's folder: no peft_type
        EXPECT_EQ(adapter["config"]["reduction_factor"], 16);
        io::SafetensorsFile weights(run / "final" / "adapter.safetensors");
        EXPECT_TRUE(weights.contains("distilbert.transformer.layer.1.output_adapters.adapters.bottleneck.adapter_up.weight"));
        continue;
      }
      EXPECT_EQ(adapter["peft_type"], peft_type);
      io::SafetensorsFile weights(run / "final" / "adapter_model.safetensors");
      if (peft_type == "LORA") {
        EXPECT_EQ(adapter["r"], 4);
        EXPECT_EQ(adapter["use_dora"], method == "dora");
        EXPECT_TRUE(weights.contains("base_model.model.distilbert.transformer.layer.0.attention.q_lin.lora_B.weight"));
      } else if (peft_type == "IA3") {
        EXPECT_TRUE(weights.contains("base_model.model.distilbert.transformer.layer.0.ffn.lin2.ia3_l"));
      } else {
        EXPECT_EQ(adapter["num_virtual_tokens"], 4);
        EXPECT_TRUE(weights.contains("prompt_embeddings"));
      }
      EXPECT_TRUE(weights.contains(peft_type == "PROMPT_TUNING" ? "base_model.pre_classifier.weight"
                                                                 : "base_model.model.pre_classifier.weight"));
    }
    if (method == "loraplus") {
      EXPECT_EQ(summary["loraplus_decay"], "peft_faithful");
    }
  }
}

// A setting of another method is an error naming the setting and the method, whether it comes
// as a flag or in the --config file; nothing trains.
TEST(LoraftTrain, SettingsOfAnotherMethodAreRefused) {
  testing::ScratchDir dir;
  for (const auto& [method, flag, value] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"ia3", "--lora-dropout", "0"}, {"lora", "--num-virtual-tokens", "4"},
           {"prompt", "--ia3-feedforward-modules", "lin1"}, {"full", "--loraplus-ratio", "4"},
           {"lora", "--loraplus-ratio", "4"}, {"ia3", "--bottleneck-variant", "houlsby"},
           {"adapter", "--target-modules", "q_lin"}}) {
    auto r = train(dir, method, {flag, value});
    EXPECT_EQ(r.exit_code, 2) << flag;
    EXPECT_NE(r.err.find(flag + " does not apply to method " + method), std::string::npos) << r.err;
  }
  io::write_file_atomic(dir / "cfg.json", R"({"method": "ia3", "lora": {"r": 16}})");
  auto file = train(dir, "ia3", {"--config", (dir / "cfg.json").string()});
  EXPECT_EQ(file.exit_code, 2);
  EXPECT_NE(file.err.find("lora.r does not apply to method ia3 (in " + (dir / "cfg.json").string() + ")"),
            std::string::npos) << file.err;
  EXPECT_FALSE(fs::exists(dir / "runs")) << "nothing trained";
}

TEST(LoraftTrain, FinishedRunIsReusedAndConfigFileIsOverriddenByFlags) {
  testing::ScratchDir dir;
  auto first = train(dir, "lora");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto again = train(dir, "lora");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(Json::parse(again.out)["reused"].get<bool>());
  EXPECT_EQ(Json::parse(again.out)["run_dir"], Json::parse(first.out)["run_dir"]);
  // A config file with another seed, but --seed on the command line wins: same run again.
  testing::write_text(dir / "cfg.json", R"({"seed": 7, "epochs": 1})");
  auto with_file = train(dir, "lora", {"--config", (dir / "cfg.json").string(), "--seed", "42"});
  ASSERT_EQ(with_file.exit_code, 0) << with_file.err;
  EXPECT_EQ(Json::parse(with_file.out)["run_dir"], Json::parse(first.out)["run_dir"]);
}

TEST(LoraftTrain, AccumulationAndBf16FromTheCommandLine) {
  testing::ScratchDir dir;
  // 256 rows / batch 16 = 16 batches; groups of 3: 5 full groups and one of 1, but the
  // Trainer's schedule has 16 / 3 = 5 steps and stops there.
  auto r = train(dir, "lora", {"--gradient-accumulation-steps", "3", "--autocast", "bf16"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path run = Json::parse(r.out)["run_dir"].get<std::string>();
  Json summary = io::read_json(run / "summary.json");
  EXPECT_EQ(summary["steps"], 5);
  EXPECT_EQ(summary["train_examples"], 240);
  Json config = io::read_json(run / "config.json");
  EXPECT_EQ(config["train"]["gradient_accumulation_steps"], 3);
  EXPECT_EQ(config["train"]["autocast"], "bf16");
  auto fp16 = train(dir, "lora", {"--autocast", "fp16"});
  EXPECT_EQ(fp16.exit_code, 2);
  EXPECT_NE(fp16.err.find("CUDA"), std::string::npos) << fp16.err;
}

TEST(LoraftTrain, BadInputIsOneLineAndStatusTwo) {
  testing::ScratchDir dir;
  auto r = train(dir, "adapters");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("loraft-train: error:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("full, lora, loraplus, dora, ia3, prompt or adapter"), std::string::npos) << r.err;
  auto missing = testing::run_process({testing::program("loraft-train").string(), "--model", "x"});
  EXPECT_EQ(missing.exit_code, 2);
  // CUDA where there is none (a CPU build of LibTorch, or no GPU): one line, not LibTorch's trace.
  if (!torch::cuda::is_available()) {
    auto cuda = train(dir, "lora", {"--device", "cuda"});
    EXPECT_EQ(cuda.exit_code, 2);
    EXPECT_NE(cuda.err.find("no CUDA device"), std::string::npos) << cuda.err;
    EXPECT_EQ(cuda.err.find("frame #"), std::string::npos) << cuda.err;
  }
  // Counts that cannot be negative are refused before any work, naming the flag.
  for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{
           {"--threads", "-1"}, {"--checkpoint-every", "-1"}, {"--num-labels", "-1"}, {"--keep-checkpoints", "0"}}) {
    auto bad = train(dir, "lora", {flag, value});
    EXPECT_EQ(bad.exit_code, 2) << flag;
    EXPECT_NE(bad.err.find(flag + " " + value + " out of range"), std::string::npos) << bad.err;
  }
  // A vocabulary that does not fit the model (here the fixture's with 41 lines repeated at the
  // end: ids up to 373 for 333 embeddings) stops before training, with no run folder.
  const fs::path vocab = dir / "vocab.txt";
  {
    const std::string text = testing::read_text(testing::fixture("distilbert-tiny") / "vocab.txt");
    std::ofstream out(vocab);
    out << text;
    std::istringstream lines(text);
    std::string line;
    for (int i = 0; std::getline(lines, line); ++i)
      if (i >= 100 && i < 141) out << line << "\n";
  }
  const auto runs_before = fs::exists(dir / "runs") ? std::distance(fs::directory_iterator(dir / "runs"), {}) : 0;
  auto misfit = train(dir, "full", {"--vocab", vocab.string(), "--seed", "7"});
  EXPECT_EQ(misfit.exit_code, 2) << misfit.err;
  EXPECT_NE(misfit.err.find("is outside the model's vocabulary (expected 0 <= id < vocab_size 333)"), std::string::npos)
      << misfit.err;
  EXPECT_EQ(fs::exists(dir / "runs") ? std::distance(fs::directory_iterator(dir / "runs"), {}) : 0, runs_before)
      << "no run folder";

  auto help = testing::run_process({testing::program("loraft-train").string(), "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--loraplus-ratio"), std::string::npos);
}

}  // namespace
}  // namespace loraft
