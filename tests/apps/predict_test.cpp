// loraft-predict as a black box: the built program on the fixture checkpoints, compared with
// the outputs of transformers 4.46.3 (max |ours - reference| / max |reference| <= 1e-5).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "loraft/io/file.h"
#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"
#include "support/tensor_support.h"
#include "support/test_support.h"

namespace loraft {
namespace {
namespace fs = std::filesystem;

constexpr double kRelTol = 1e-5;

fs::path predict_program() { return testing::program("loraft-predict"); }

#define REQUIRE_PROGRAM()                                                                   \
  if (!fs::exists(predict_program())) GTEST_SKIP() << "loraft-predict is not built (needs the " \
                                                      "model and text components)"

using testing::relative_error;

testing::ProcessResult predict(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {predict_program().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::run_process(argv);
}

class PredictFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(PredictFixture, OutputsEqualTransformers) {
  REQUIRE_PROGRAM();
  const std::string name = GetParam();
  testing::ScratchDir dir;
  auto r = predict({"--model", testing::fixture(name).string(), "--input",
                    testing::fixture(name + "/inputs.safetensors").string(), "--output",
                    (dir / "out.safetensors").string(), "--hidden-states", "--batch-size", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto got = io::load_safetensors(dir / "out.safetensors");
  auto want = io::load_safetensors(testing::fixture(name + "/expected.safetensors"));
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [key, tensor] : want) {
    ASSERT_TRUE(got.count(key)) << key;
    EXPECT_EQ(got.at(key).scalar_type(), torch::kFloat) << key;
    ASSERT_EQ(got.at(key).sizes(), tensor.sizes()) << key;
    double rel = relative_error(got.at(key), tensor);
    std::printf("  %s %-20s max rel error %.3g\n", name.c_str(), key.c_str(), rel);
    EXPECT_LE(rel, kRelTol) << key;
  }
}

INSTANTIATE_TEST_SUITE_P(Tiny, PredictFixture,
                         ::testing::Values("distilbert-tiny", "distilbert-tiny-sinusoidal", "distilbert-tiny-mlm"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (auto& c : s) if (c == '-') c = '_';
                           return s;
                         });

TEST(Predict, TextLinesAreTokenisedWithTheModelsVocab) {
  REQUIRE_PROGRAM();
  testing::ScratchDir dir;
  const auto inputs = testing::fixture("distilbert-tiny/inputs.jsonl");
  // The fixture texts were encoded with max_length = their row length.
  auto ids = io::load_safetensors(testing::fixture("distilbert-tiny/inputs.safetensors")).at("input_ids");
  const std::string max_length = std::to_string(ids.size(1));
  auto want = io::load_safetensors(testing::fixture("distilbert-tiny/expected.safetensors")).at("logits");

  auto r = predict({"--model", testing::fixture("distilbert-tiny").string(), "--input", inputs.string(),
                    "--output", (dir / "out.safetensors").string(), "--max-length", max_length});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LE(relative_error(io::load_safetensors(dir / "out.safetensors").at("logits"), want), kRelTol);

  r = predict({"--model", testing::fixture("distilbert-tiny").string(), "--input", inputs.string(), "--output",
               (dir / "out.jsonl").string(), "--max-length", max_length});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto config = io::read_json(testing::fixture("distilbert-tiny/config.json"));
  std::vector<std::vector<float>> rows;
  io::for_each_json_line(dir / "out.jsonl", [&](const io::Json& j, long long) {
    rows.push_back(j.at("logits").get<std::vector<float>>());
    auto label = j.at("label_id").get<std::int64_t>();
    EXPECT_EQ(j.at("label"), config["id2label"][std::to_string(label)]);
    EXPECT_EQ(label, std::max_element(rows.back().begin(), rows.back().end()) - rows.back().begin());
  });
  ASSERT_EQ(static_cast<std::int64_t>(rows.size()), want.size(0));
  torch::Tensor got = torch::empty_like(want);
  for (std::int64_t i = 0; i < want.size(0); ++i)
    for (std::int64_t k = 0; k < want.size(1); ++k) got[i][k] = rows[i][k];
  EXPECT_LE(relative_error(got, want), kRelTol);
}

// Without --max-length, texts are cut at the model's own limit (the tiny model takes 64
// positions, fewer than a fixed default of 128 would ask for).
TEST(Predict, TextDefaultsToTheModelsLength) {
  REQUIRE_PROGRAM();
  testing::ScratchDir dir;
  const auto positions = io::read_json(testing::fixture("distilbert-tiny/config.json")).at("max_position_embeddings");
  std::vector<std::string> args{"--model", testing::fixture("distilbert-tiny").string(), "--input",
                                testing::fixture("distilbert-tiny/inputs.jsonl").string()};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), args.begin(), args.end());
    return more;
  };
  auto r = predict(with({"--output", (dir / "default.safetensors").string()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = predict(with({"--output", (dir / "explicit.safetensors").string(), "--max-length", positions.dump()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(torch::equal(io::load_safetensors(dir / "default.safetensors").at("logits"),
                           io::load_safetensors(dir / "explicit.safetensors").at("logits")));
  r = predict(with({"--output", (dir / "long.safetensors").string(), "--max-length", "128"}));
  EXPECT_EQ(r.exit_code, 2) << "longer than the model takes";
}

TEST(Predict, AdapterReproducesPeftsLogits) {
  REQUIRE_PROGRAM();
  testing::ScratchDir dir;
  auto r = predict({"--model", testing::fixture("distilbert-tiny").string(), "--adapter",
                    testing::fixture("lora/adapter").string(), "--input",
                    testing::fixture("lora/inputs.safetensors").string(), "--output",
                    (dir / "out.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto got = io::load_safetensors(dir / "out.safetensors").at("logits");
  auto want = io::load_safetensors(testing::fixture("lora/expected.safetensors")).at("logits_adapter");
  EXPECT_LE(relative_error(got, want), kRelTol);
  auto bad = predict({"--model", testing::fixture("distilbert-tiny").string(), "--adapter",
                      (dir / "missing").string(), "--input",
                      testing::fixture("lora/inputs.safetensors").string(), "--output",
                      (dir / "out2.safetensors").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("adapter_config.json"), std::string::npos) << bad.err;
}

// Any method's PEFT folder, recognised by its peft_type: PEFT's logits on the fixtures' batch.
TEST(Predict, EveryAdapterMethodReproducesPeftsLogits) {
  REQUIRE_PROGRAM();
  testing::ScratchDir dir;
  for (const std::string method : {"dora", "ia3", "prompt_tuning_random", "prompt_tuning_text"}) {
    SCOPED_TRACE(method);
    const auto out = dir / (method + ".safetensors");
    auto r = predict({"--model", testing::fixture("distilbert-tiny").string(), "--adapter",
                      testing::fixture("methods/" + method + "/adapter").string(), "--input",
                      testing::fixture("lora/train/batch.safetensors").string(), "--output", out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto got = io::load_safetensors(out).at("logits");
    auto want = io::load_safetensors(testing::fixture("methods/" + method + "/expected.safetensors")).at("logits_adapter");
    EXPECT_LE(relative_error(got, want), kRelTol);
  }
}

TEST(Predict, BadInputsAreOneClearLine) {
  REQUIRE_PROGRAM();
  testing::ScratchDir dir;
  // No input_ids in the file.
  io::save_safetensors(dir / "bad.safetensors", {{"ids", torch::zeros({2, 3}, torch::kLong)}});
  auto r = predict({"--model", testing::fixture("distilbert-tiny").string(), "--input",
                    (dir / "bad.safetensors").string(), "--output", (dir / "out.safetensors").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("input_ids"), std::string::npos) << r.err;
  // Rows without a single token.
  io::save_safetensors(dir / "empty.safetensors", {{"input_ids", torch::zeros({2, 0}, torch::kLong)}});
  r = predict({"--model", testing::fixture("distilbert-tiny").string(), "--input",
               (dir / "empty.safetensors").string(), "--output", (dir / "out.safetensors").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("rows of length 0"), std::string::npos) << r.err;
  // A model folder that is not one.
  r = predict({"--model", dir.path().string(), "--input", testing::fixture("distilbert-tiny/inputs.safetensors").string(),
               "--output", (dir / "out.safetensors").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
  // A text line without "text".
  testing::write_text(dir / "t.jsonl", "{\"text\": \"fine\"}\n{\"txt\": \"oops\"}\n");
  r = predict({"--model", testing::fixture("distilbert-tiny").string(), "--input", (dir / "t.jsonl").string(),
               "--output", (dir / "out.jsonl").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("t.jsonl:2"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out.jsonl"));
}

}  // namespace
}  // namespace loraft
