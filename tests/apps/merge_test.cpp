// loraft-merge against PEFT's merge_and_unload() + save_pretrained() (fixtures lora/merged and
// methods/{dora,ia3}/merged); prompt tuning, which PEFT cannot merge, refused.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "loraft/core/hash.h"
#include "loraft/io/safetensors.h"
#include "support/test_support.h"

namespace loraft {
namespace {

TEST(LoraftMerge, EqualsPeftsMergedCheckpointForEveryMergeableMethod) {
  testing::ScratchDir dir;
  for (const std::string method : {"lora", "methods/dora", "methods/ia3"}) {
    SCOPED_TRACE(method);
    const auto out = dir / std::filesystem::path(method).filename();
    auto r = testing::run_process({testing::program("loraft-merge").string(), "--model",
                                   testing::fixture("distilbert-tiny").string(), "--adapter",
                                   testing::fixture(method + "/adapter").string(), "--output", out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    io::SafetensorsFile ours(out / "model.safetensors");
    io::SafetensorsFile peft(testing::fixture(method + "/merged/model.safetensors"));
    EXPECT_EQ(ours.names(), peft.names());
    for (const auto& name : peft.names()) {
      EXPECT_EQ(ours.info(name).shape, peft.info(name).shape) << name;
      torch::Tensor a = ours.tensor(name), b = peft.tensor(name);
      EXPECT_LE((a - b).abs().max().item<double>(), 1e-6 + 1e-5 * b.abs().max().item<double>()) << name;
    }
    EXPECT_TRUE(std::filesystem::exists(out / "config.json"));
    EXPECT_TRUE(std::filesystem::exists(out / "vocab.txt"));
  }
}

// Prompt tuning changes the input, not the weights: there is nothing to merge (PEFT raises too).
TEST(LoraftMerge, PromptTuningIsRefusedAndNothingIsWritten) {
  testing::ScratchDir dir;
  auto r = testing::run_process({testing::program("loraft-merge").string(), "--model",
                                 testing::fixture("distilbert-tiny").string(), "--adapter",
                                 testing::fixture("methods/prompt_tuning_text/adapter").string(), "--output",
                                 (dir / "out").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("prompt tuning (4 virtual tokens) cannot be merged"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
}

testing::ProcessResult merge(const std::filesystem::path& model, const std::filesystem::path& output) {
  return testing::run_process({testing::program("loraft-merge").string(), "--model", model.string(), "--adapter",
                               testing::fixture("lora/adapter").string(), "--output", output.string()});
}

// Merging into the base folder would overwrite the weights every later merge starts from.
TEST(LoraftMerge, OutputThatIsAnInputIsRefusedAndTheBaseStaysIntact) {
  testing::ScratchDir dir;
  std::filesystem::copy(testing::fixture("distilbert-tiny"), dir / "base");
  const std::string before = sha256_file(dir / "base" / "model.safetensors");
  for (const auto& output : {dir / "base", dir / "base" / ".." / "base"}) {
    auto r = merge(dir / "base", output);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--output is the --model folder"), std::string::npos) << r.err;
  }
  std::filesystem::create_directory_symlink(dir / "base", dir / "link");
  EXPECT_EQ(merge(dir / "base", dir / "link").exit_code, 2) << "an output that resolves to the model";
  EXPECT_EQ(sha256_file(dir / "base" / "model.safetensors"), before);
  testing::write_text(dir / "file", "x");
  auto r = merge(dir / "base", dir / "file");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--output is a file"), std::string::npos) << r.err;
}

// A second merge replaces the output folder as a whole and leaves no staging folder behind.
TEST(LoraftMerge, OutputFolderIsReplacedWhole) {
  testing::ScratchDir dir;
  ASSERT_EQ(merge(testing::fixture("distilbert-tiny"), dir / "out").exit_code, 0);
  testing::write_text(dir / "out" / "stale.txt", "from before");
  auto r = merge(testing::fixture("distilbert-tiny"), dir / "out");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> files, entries;
  for (const auto& e : std::filesystem::directory_iterator(dir / "out")) files.insert(e.path().filename());
  EXPECT_EQ(files, (std::set<std::string>{"config.json", "model.safetensors", "vocab.txt"}));
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) entries.insert(e.path().filename());
  EXPECT_EQ(entries, (std::set<std::string>{"out"}));
}

TEST(LoraftMerge, MissingAdapterIsOneLineAndStatusTwo) {
  testing::ScratchDir dir;
  auto r = testing::run_process({testing::program("loraft-merge").string(), "--model",
                                 testing::fixture("distilbert-tiny").string(), "--adapter",
                                 (dir / "nope").string(), "--output", (dir / "out").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("loraft-merge: error:"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out" / "model.safetensors"));
}

// A copy of `folder` in `to` whose weights file has a NaN in its first floating tensor.
std::filesystem::path with_nan(const std::filesystem::path& folder, const std::filesystem::path& to,
                               const std::string& weights) {
  std::filesystem::create_directories(to);
  for (const auto& f : std::filesystem::directory_iterator(folder))
    if (f.is_regular_file()) std::filesystem::copy(f.path(), to / f.path().filename());
  io::SafetensorsFile file(folder / weights);
  io::NamedTensors tensors;
  bool poisoned = false;
  for (const auto& name : file.names()) {
    at::Tensor t = file.tensor(name).clone();
    if (!poisoned && t.is_floating_point()) {
      t.view({-1})[0] = std::nan("");
      poisoned = true;
    }
    tensors.emplace_back(name, t);
  }
  std::filesystem::remove(to / weights);
  io::save_safetensors(to / weights, tensors);
  return to;
}

// Weights with a NaN, in the model or in the adapter: refused naming the file, nothing written.
TEST(LoraftMerge, NonFiniteWeightsAreRefused) {
  testing::ScratchDir dir;
  const auto model = with_nan(testing::fixture("distilbert-tiny"), dir / "model", "model.safetensors");
  const auto adapter = with_nan(testing::fixture("lora/adapter"), dir / "adapter", "adapter_model.safetensors");
  for (const auto& [m, a] : {std::pair{model, testing::fixture("lora/adapter")},
                             std::pair{testing::fixture("distilbert-tiny"), adapter}}) {
    auto r = testing::run_process({testing::program("loraft-merge").string(), "--model", m.string(), "--adapter",
                                   a.string(), "--output", (dir / "out").string()});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("holds NaN or infinite values"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "out"));
  }
}

}  // namespace
}  // namespace loraft
