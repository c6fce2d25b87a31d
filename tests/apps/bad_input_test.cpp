// Hostile and damaged input through the programs, each case with its exact expectation: exit
// status 2, the error on one line `<program>: error: <where>: <what> (expected ...)` naming
// what is wrong, never "internal error" or a LibTorch trace, and no output file left behind.
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"
#include "support/test_support.h"

namespace loraft {
namespace {

using io::Json;
namespace fs = std::filesystem;

// One bad input: `make` writes what it needs under the folder it is given and returns the
// program's arguments (after the program); `expected` must be in the error line.
struct Case {
  std::string name;
  std::string program;
  std::function<std::vector<std::string>(const fs::path&)> make;
  std::string expected;
};

// The tiny fixture model copied to `dir`/model with its weights passed through `edit`.
fs::path model_with(const fs::path& dir, const std::function<void(std::map<std::string, at::Tensor>&)>& edit) {
  const fs::path m = dir / "model";
  fs::create_directories(m);
  for (const char* f : {"config.json", "vocab.txt"}) fs::copy_file(testing::fixture("distilbert-tiny") / f, m / f);
  auto tensors = io::load_safetensors(testing::fixture("distilbert-tiny/model.safetensors"));
  edit(tensors);
  io::NamedTensors named(tensors.begin(), tensors.end());
  io::save_safetensors(m / "model.safetensors", named);
  return m;
}

// The fixture's PEFT adapter copied to `dir`/adapter, its config passed through `edit_config`
// and its tensors through `edit_tensors`.
fs::path adapter_with(const fs::path& dir, const std::function<void(Json&)>& edit_config,
                      const std::function<void(std::map<std::string, at::Tensor>&)>& edit_tensors) {
  const fs::path a = dir / "adapter";
  fs::create_directories(a);
  Json config = io::read_json(testing::fixture("lora/adapter/adapter_config.json"));
  edit_config(config);
  testing::write_text(a / "adapter_config.json", config.dump(2));
  auto tensors = io::load_safetensors(testing::fixture("lora/adapter/adapter_model.safetensors"));
  edit_tensors(tensors);
  io::NamedTensors named(tensors.begin(), tensors.end());
  io::save_safetensors(a / "adapter_model.safetensors", named);
  return a;
}

const std::string kQ = "distilbert.transformer.layer.0.attention.q_lin.weight";

std::vector<std::string> predict_args(const fs::path& dir, const fs::path& model, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--model", model.string(), "--input",
                                testing::fixture("distilbert-tiny/inputs.safetensors").string(), "--output",
                                (dir / "out.safetensors").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::vector<std::string> train_args(const fs::path& dir, const std::string& train, const std::string& eval) {
  return {"--model", testing::fixture("distilbert-tiny").string(), "--train", train, "--eval", eval,
          "--max-length", "64", "--epochs", "1", "--runs-dir", (dir / "runs").string(), "--cache-dir",
          (dir / "cache").string()};
}

const std::string kAgTest = "ag_news:" + testing::data_file("samples/ag_news/test.csv").string();

std::vector<Case> cases() {
  return {
      {"tensor missing against the config", "loraft-predict",
       [](const fs::path& d) { return predict_args(d, model_with(d, [](auto& t) { t.erase(kQ); })); },
       "missing tensors (1): " + kQ},
      {"tensor mis-shaped against the config", "loraft-predict",
       [](const fs::path& d) {
         return predict_args(d, model_with(d, [](auto& t) { t[kQ] = torch::zeros({16, 64}); }));
       },
       kQ + " has shape [16, 64]"},
      {"adapter naming modules that do not exist", "loraft-predict",
       [](const fs::path& d) {
         return predict_args(d, testing::fixture("distilbert-tiny"),
                             {"--adapter", adapter_with(d, [](Json& c) { c["target_modules"] = {"nonexistent_lin"}; },
                                                        [](auto&) {}).string()});
       },
       "no module of the model matches the target modules (nonexistent_lin)"},
      {"adapter for a model of another size", "loraft-predict",
       [](const fs::path& d) {
         const std::string a = "base_model.model.distilbert.transformer.layer.0.attention.q_lin.lora_A.weight";
         return predict_args(d, testing::fixture("distilbert-tiny"),
                             {"--adapter", adapter_with(d, [](Json&) {},
                                                        [&](auto& t) { t[a] = torch::zeros({4, 64}); }).string()});
       },
       "lora_A"},
      {"labels out of range", "loraft-train",
       [](const fs::path& d) {
         testing::write_text(d / "t.csv", "text,label\nfine,0\ngood,1\nodd,7\n");
         auto a = train_args(d, "csv:" + (d / "t.csv").string(), "csv:" + (d / "t.csv").string());
         a.insert(a.end(), {"--num-labels", "4"});  // the fixture's head has 4 classes
         return a;
       },
       "row 2 has label 7 (expected labels 0..3"},
      {"empty data set", "loraft-train",
       [](const fs::path& d) {
         testing::write_text(d / "t.csv", "text,label\n");
         return train_args(d, "csv:" + (d / "t.csv").string(), kAgTest);
       },
       "t.csv"},
      {"invalid UTF-8", "loraft-train",
       [](const fs::path& d) {
         testing::write_text(d / "t.csv", "text,label\nfine,0\nbad \xff\xfe bytes,1\n");
         return train_args(d, "csv:" + (d / "t.csv").string(), kAgTest);
       },
       "t.csv:3"},
      {"output path that is a folder", "loraft-predict",
       [](const fs::path& d) {
         fs::create_directories(d / "out.safetensors");
         return predict_args(d, testing::fixture("distilbert-tiny"));
       },
       "out.safetensors"},
      {"output folder that cannot be written", "loraft-train",
       [](const fs::path& d) {
         testing::write_text(d / "runs", "a file where the runs folder belongs\n");
         return train_args(d, kAgTest, kAgTest);
       },
       "runs"},
  };
}

TEST(BadInput, EachCaseIsOneLineExitTwoAndNoOutput) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    testing::ScratchDir dir;
    std::vector<std::string> argv{testing::program(c.program).string()};
    const auto args = c.make(dir.path());
    argv.insert(argv.end(), args.begin(), args.end());
    const bool output_was_folder = fs::is_directory(dir / "out.safetensors");
    auto r = testing::run_process(argv);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    const auto at = r.err.find(c.program + ": error: ");
    ASSERT_NE(at, std::string::npos) << r.err;
    const std::string line = r.err.substr(at);
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line, the last: " << r.err;
    EXPECT_NE(line.find(c.expected), std::string::npos) << line;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("frame #"), std::string::npos) << r.err;
    if (!output_was_folder) {
      EXPECT_FALSE(fs::exists(dir / "out.safetensors"));
    }
  }
}

// A key given twice in config.json is not an error: the last value counts, as in Python's
// json.load, which transformers reads it with (here the later, true "dim" gives the fixture's
// logits; the earlier one would not even load the weights).
TEST(BadInput, DuplicatedJsonKeyTakesTheLastValueAsPython) {
  testing::ScratchDir dir;
  const fs::path m = model_with(dir.path(), [](auto&) {});
  std::string text = testing::read_text(m / "config.json");
  text.insert(text.find('{') + 1, "\n  \"dim\": 64,");
  testing::write_text(m / "config.json", text);
  std::vector<std::string> argv{testing::program("loraft-predict").string()};
  for (const auto& a : predict_args(dir.path(), m)) argv.push_back(a);
  auto r = testing::run_process(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  argv.back() = (dir / "plain.safetensors").string();
  argv[2] = testing::fixture("distilbert-tiny").string();
  ASSERT_EQ(testing::run_process(argv).exit_code, 0);
  EXPECT_TRUE(torch::equal(io::load_safetensors(dir / "out.safetensors").at("logits"),
                           io::load_safetensors(dir / "plain.safetensors").at("logits")));
}

}  // namespace
}  // namespace loraft
