// safetensors: reading the fixtures, re-writing them byte for byte, the reference writer's
// layout, the LibTorch bridge, and one crafted file per validation error.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cstring>

#include "loraft/core/error.h"
#include "loraft/io/file.h"
#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"
#include "support/test_support.h"

namespace loraft::io {
namespace {
namespace fs = std::filesystem;

// Every .safetensors file under tests/fixtures (written by the reference writer).
std::vector<fs::path> fixture_files() {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(testing::fixture("")))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string le64(std::uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return s;
}

// A file with the given header JSON (length written as is) followed by `data`.
fs::path craft(const testing::ScratchDir& dir, const std::string& name, const std::string& header,
               const std::string& data) {
  fs::path p = dir / name;
  testing::write_text(p, le64(header.size()) + header + data);
  return p;
}

// Opens `path`, expecting a FormatError whose message contains every one of `needles`.
void expect_format_error(const fs::path& path, std::vector<std::string> needles) {
  try {
    SafetensorsFile f(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const FormatError& e) {
    std::string what = e.what();
    EXPECT_NE(e.where().find(path.filename().string()), std::string::npos) << what;
    EXPECT_FALSE(e.expected().empty()) << what;
    for (const auto& n : needles) EXPECT_NE(what.find(n), std::string::npos) << what;
  }
}

TEST(Safetensors, ReadsTheTinyCheckpointAsTheManifestListsIt) {
  SafetensorsFile f(testing::fixture("distilbert-tiny/model.safetensors"));
  EXPECT_TRUE(f.has_metadata());
  EXPECT_EQ(f.metadata(), (Metadata{{"format", "pt"}}));
  Json manifest = read_json(testing::fixture("manifest.json"));
  auto expected = manifest["tiny"]["distilbert-tiny"]["saved_tensor_names"].get<std::vector<std::string>>();
  EXPECT_EQ(f.names(), expected);
  const auto& info = f.info("distilbert.transformer.layer.0.attention.q_lin.weight");
  EXPECT_EQ(info.dtype, Dtype::F32);
  Json config = read_json(testing::fixture("distilbert-tiny/config.json"));
  std::int64_t dim = config["dim"];
  EXPECT_EQ(info.shape, (std::vector<std::int64_t>{dim, dim}));
  EXPECT_EQ(info.byte_size(), static_cast<std::uint64_t>(dim * dim * 4));
  at::Tensor t = f.tensor("distilbert.transformer.layer.0.attention.q_lin.weight");
  EXPECT_EQ(t.scalar_type(), at::kFloat);
  EXPECT_EQ(std::memcmp(t.data_ptr(), f.bytes(info.name).data(), info.byte_size()), 0);
}

TEST(Safetensors, InputsAreInt64) {
  auto tensors = load_safetensors(testing::fixture("distilbert-tiny/inputs.safetensors"));
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_EQ(tensors.at("input_ids").scalar_type(), at::kLong);
  EXPECT_EQ(tensors.at("attention_mask").sizes(), tensors.at("input_ids").sizes());
}

TEST(Safetensors, RewritingEveryFixtureFileIsByteIdentical) {
  testing::ScratchDir dir;
  auto files = fixture_files();
  ASSERT_GT(files.size(), 10u);
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    const std::string original = read_file(path);
    SafetensorsFile f(path);
    // Raw bytes through the writer.
    std::vector<TensorBytes> items;
    for (const auto& t : f.tensors()) {
      auto b = f.bytes(t.name);
      items.push_back({t.name, t.dtype, t.shape, b.data(), b.size()});
    }
    write_safetensors(dir / "raw.safetensors", items, f.metadata());
    EXPECT_EQ(read_file(dir / "raw.safetensors"), original);
    // Through LibTorch tensors, in an order unrelated to the file's.
    auto loaded = load_safetensors(path);
    NamedTensors named(loaded.rbegin(), loaded.rend());
    save_safetensors(dir / "torch.safetensors", named, f.metadata());
    EXPECT_EQ(read_file(dir / "torch.safetensors"), original);
  }
}

TEST(Safetensors, WriterOrdersByDtypeAlignmentThenNameAndPadsWithSpaces) {
  testing::ScratchDir dir;
  NamedTensors tensors;
  // Names chosen so that name order and dtype order disagree.
  const std::vector<std::pair<std::string, c10::ScalarType>> spec = {
      {"a_bool", at::kBool}, {"b_u8", at::kByte},  {"c_i8", at::kChar},   {"d_i16", at::kShort},
      {"e_f16", at::kHalf},  {"f_bf16", at::kBFloat16}, {"g_i32", at::kInt}, {"h_f32", at::kFloat},
      {"i_f64", at::kDouble}, {"j_i64", at::kLong}, {"k_f32", at::kFloat}};
  for (const auto& [name, type] : spec)
    tensors.emplace_back(name, torch::arange(3).to(type));
  save_safetensors(dir / "mixed.safetensors", tensors, {{"format", "pt"}, {"b", "x\"y"}});
  SafetensorsFile f(dir / "mixed.safetensors");
  std::vector<std::string> order;
  for (const auto& t : f.tensors()) order.push_back(t.name);
  // The Rust library's Dtype enum order, descending: I64 F64 F32 I32 BF16 F16 I16 I8 U8 BOOL.
  EXPECT_EQ(order, (std::vector<std::string>{"j_i64", "i_f64", "h_f32", "k_f32", "g_i32", "f_bf16",
                                             "e_f16", "d_i16", "c_i8", "b_u8", "a_bool"}));
  std::string bytes = read_file(dir / "mixed.safetensors");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.rfind("{\"__metadata__\":{\"b\":\"x\\\"y\",\"format\":\"pt\"},\"j_i64\":{\"dtype\":"
                         "\"I64\",\"shape\":[3],\"data_offsets\":[0,24]}", 0), 0u) << header;
  EXPECT_EQ(header.find(' '), header.find_last_not_of(' ') + 1);
  EXPECT_EQ(f.metadata().at("b"), "x\"y");
  // Values survive, whatever the dtype.
  auto back = load_safetensors(dir / "mixed.safetensors");
  for (const auto& [name, t] : tensors) {
    EXPECT_EQ(back.at(name).scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(back.at(name), t)) << name;
  }
}

TEST(Safetensors, NoMetadataMeansNoMetadataKey) {
  testing::ScratchDir dir;
  save_safetensors(dir / "x.safetensors", {{"x", torch::ones({2, 2})}});
  std::string bytes = read_file(dir / "x.safetensors");
  EXPECT_EQ(bytes.find("__metadata__"), std::string::npos);
  EXPECT_FALSE(SafetensorsFile(dir / "x.safetensors").has_metadata());
}

TEST(Safetensors, HalfPrecisionAndOddShapesRoundTripBitwise) {
  testing::ScratchDir dir;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto base = torch::empty({5, 3}).normal_(0, 1, gen);
  NamedTensors in = {
      {"half", base.to(at::kHalf)},
      {"bf16", base.to(at::kBFloat16)},
      {"scalar", torch::tensor(3.5)},
      {"empty", torch::zeros({0, 4})},
      {"strided", base.t()},  // not contiguous: saved as its logical layout
      {"flags", torch::tensor({true, false, true})},
  };
  save_safetensors(dir / "h.safetensors", in);
  auto out = load_safetensors(dir / "h.safetensors");
  for (const auto& [name, t] : in) {
    SCOPED_TRACE(name);
    ASSERT_EQ(out.at(name).sizes(), t.sizes());
    EXPECT_EQ(out.at(name).scalar_type(), t.scalar_type());
    EXPECT_TRUE(torch::equal(out.at(name), t));
  }
  EXPECT_TRUE(SafetensorsFile(dir / "h.safetensors").info("scalar").shape.empty());
}

TEST(Safetensors, WriteIsAtomicAndLeavesNoTemporary) {
  testing::ScratchDir dir;
  save_safetensors(dir / "a.safetensors", {{"x", torch::ones({4})}});
  save_safetensors(dir / "a.safetensors", {{"y", torch::zeros({2})}});
  EXPECT_EQ(SafetensorsFile(dir / "a.safetensors").names(), (std::vector<std::string>{"y"}));
  int entries = 0;
  for (auto& e : fs::directory_iterator(dir.path())) (void)e, ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(Safetensors, WriterRejectsDuplicateNamesAndWrongSizes) {
  testing::ScratchDir dir;
  EXPECT_THROW(save_safetensors(dir / "d.safetensors", {{"x", torch::ones({1})}, {"x", torch::ones({1})}}),
               ConfigError);
  EXPECT_THROW(save_safetensors(dir / "d.safetensors", {{"__metadata__", torch::ones({1})}}),
               ConfigError);
  float v[2] = {1, 2};
  std::vector<TensorBytes> bad = {{"x", Dtype::F32, {3}, v, sizeof v}};
  EXPECT_THROW(write_safetensors(dir / "d.safetensors", bad), ConfigError);
  EXPECT_THROW(save_safetensors(dir / "d.safetensors", {{"c", torch::ones({1}, at::kComplexFloat)}}),
               ConfigError);
  EXPECT_FALSE(fs::exists(dir / "d.safetensors"));
}

TEST(Safetensors, MissingFileIsAnIoError) {
  testing::ScratchDir dir;
  EXPECT_THROW(SafetensorsFile(dir / "none.safetensors"), IoError);
}

// ----- one crafted file per validation rule --------------------------------------------------

const std::string kGood = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
const std::string kData8(8, '\x01');

TEST(SafetensorsValidation, ACraftedGoodFileOpens) {
  testing::ScratchDir dir;
  SafetensorsFile f(craft(dir, "good.safetensors", kGood, kData8));
  EXPECT_EQ(f.names(), (std::vector<std::string>{"a"}));
}

TEST(SafetensorsValidation, FileTooSmallForTheLength) {
  testing::ScratchDir dir;
  testing::write_text(dir / "small.safetensors", "abc");
  expect_format_error(dir / "small.safetensors", {"too small"});
}

TEST(SafetensorsValidation, HeaderLongerThanTheFile) {
  testing::ScratchDir dir;
  testing::write_text(dir / "long.safetensors", le64(1000) + kGood + kData8);
  expect_format_error(dir / "long.safetensors", {"header length 1000", "larger than the file"});
}

TEST(SafetensorsValidation, HeaderLengthThatWouldOverflow) {
  testing::ScratchDir dir;
  testing::write_text(dir / "huge.safetensors", le64(~0ull) + kGood + kData8);
  expect_format_error(dir / "huge.safetensors", {"header length 18446744073709551615"});
  testing::write_text(dir / "huge2.safetensors", le64(~0ull - 4) + kGood + kData8);
  expect_format_error(dir / "huge2.safetensors", {"exceeds"});
}

TEST(SafetensorsValidation, JsonSyntaxError) {
  testing::ScratchDir dir;
  expect_format_error(craft(dir, "syntax.safetensors", R"({"a":{"dtype":"F32",)", kData8),
                      {"not valid JSON"});
}

// Found by the safetensors fuzz target (tests/fuzz): a number past double's range in the header
// (data_offsets [768, 151e40036]) escaped as nlohmann's out_of_range instead of a FormatError.
TEST(SafetensorsValidation, NumberOverflowInTheHeaderIsAFormatError) {
  expect_format_error(testing::source_dir() / "tests/fuzz/regressions/safetensors/crash-2c93d24870adff17073c1f0b318a5547baa14a34",
                      {"not valid JSON", "number overflow"});
  testing::ScratchDir dir;
  expect_format_error(craft(dir, "big.safetensors", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,1e400]}})", kData8),
                      {"not valid JSON"});
}

TEST(SafetensorsValidation, HeaderNotUtf8) {
  testing::ScratchDir dir;
  std::string header = "{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  expect_format_error(craft(dir, "utf8.safetensors", header, kData8), {"UTF-8", "byte 3"});
  // An overlong encoding of '/' is not UTF-8 either.
  std::string overlong = "{\"a\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  expect_format_error(craft(dir, "overlong.safetensors", overlong, kData8), {"UTF-8"});
}

TEST(SafetensorsValidation, HeaderNotAnObject) {
  testing::ScratchDir dir;
  expect_format_error(craft(dir, "array.safetensors", "[1,2]   ", ""), {"'{'"});
  expect_format_error(craft(dir, "bom.safetensors", "\xef\xbb\xbf{}", ""), {"'{'"});
}

TEST(SafetensorsValidation, UnknownAndUnsupportedDtypes) {
  testing::ScratchDir dir;
  expect_format_error(
      craft(dir, "f33.safetensors", R"({"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", kData8),
      {"unknown dtype \"F33\"", "tensor \"w\""});
  expect_format_error(
      craft(dir, "u32.safetensors", R"({"w":{"dtype":"U32","shape":[2],"data_offsets":[0,8]}})", kData8),
      {"not supported", "tensor \"w\""});
}

TEST(SafetensorsValidation, ShapeDoesNotMatchTheByteSpan) {
  testing::ScratchDir dir;
  expect_format_error(
      craft(dir, "span.safetensors", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", kData8),
      {"needs 12 bytes", "span 8", "tensor \"w\""});
  expect_format_error(
      craft(dir, "neg.safetensors", R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", kData8),
      {"shape holds -2"});
  expect_format_error(craft(dir, "ovf.safetensors",
                            R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                            kData8),
                      {"overflows"});
}

TEST(SafetensorsValidation, MalformedEntries) {
  testing::ScratchDir dir;
  expect_format_error(craft(dir, "nooff.safetensors", R"({"w":{"dtype":"F32","shape":[2]}})", kData8),
                      {"data_offsets"});
  expect_format_error(
      craft(dir, "rev.safetensors", R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", kData8),
      {"end before they begin"});
  expect_format_error(craft(dir, "meta.safetensors",
                            R"({"__metadata__":{"format":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                            kData8),
                      {"__metadata__", "not a string"});
  expect_format_error(craft(dir, "dup.safetensors",
                            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                            kData8),
                      {"duplicate key \"a\""});
}

TEST(SafetensorsValidation, OffsetsOutsideTheDataSection) {
  testing::ScratchDir dir;
  expect_format_error(
      craft(dir, "out.safetensors", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", kData8),
      {"outside the data section", "tensor \"w\""});
}

TEST(SafetensorsValidation, OverlappingTensors) {
  testing::ScratchDir dir;
  expect_format_error(craft(dir, "overlap.safetensors",
                            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                            kData8),
                      {"overlap tensor \"a\"", "tensor \"b\""});
}

TEST(SafetensorsValidation, GapBetweenTensors) {
  testing::ScratchDir dir;
  expect_format_error(craft(dir, "gap.safetensors",
                            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                            std::string(12, '\0')),
                      {"gap of 4 bytes", "tensor \"b\""});
}

TEST(SafetensorsValidation, BytesAfterTheLastTensor) {
  testing::ScratchDir dir;
  expect_format_error(craft(dir, "tail.safetensors", kGood, kData8 + "xyz"),
                      {"last 3 bytes", "belong to no tensor"});
}

}  // namespace
}  // namespace loraft::io
