// loraft-merge against PEFT's merge_and_unload() + save_pretrained() (fixture lora/merged).
#include <gtest/gtest.h>

#include "loraft/io/safetensors.h"
#include "support/test_support.h"

namespace loraft {
namespace {

TEST(LoraftMerge, EqualsPeftsMergedCheckpoint) {
  testing::ScratchDir dir;
  auto r = testing::run_process({testing::program("loraft-merge").string(), "--model",
                                 testing::fixture("distilbert-tiny").string(), "--adapter",
                                 testing::fixture("lora/adapter").string(), "--output",
                                 (dir / "merged").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  io::SafetensorsFile ours(dir / "merged" / "model.safetensors");
  io::SafetensorsFile peft(testing::fixture("lora/merged/model.safetensors"));
  EXPECT_EQ(ours.names(), peft.names());
  for (const auto& name : peft.names()) {
    EXPECT_EQ(ours.info(name).shape, peft.info(name).shape) << name;
    torch::Tensor a = ours.tensor(name), b = peft.tensor(name);
    EXPECT_LE((a - b).abs().max().item<double>(), 1e-6 + 1e-5 * b.abs().max().item<double>()) << name;
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "merged" / "config.json"));
  EXPECT_TRUE(std::filesystem::exists(dir / "merged" / "vocab.txt"));
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

}  // namespace
}  // namespace loraft
