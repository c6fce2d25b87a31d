// The HDF5 helpers: round trips, type and presence checks, damage detection, and no HDF5
// error-stack output on stderr.

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "loraft/core/error.h"
#include "loraft/io/file.h"
#include "loraft/io/hdf5.h"
#include "support/test_support.h"

namespace h5 = loraft::io::hdf5;
using loraft::FormatError;
using loraft::IoError;
using loraft::testing::ScratchDir;
using loraft::testing::write_text;

TEST(Hdf5, ArraysAndAttributesRoundTrip) {
  ScratchDir dir;
  const auto path = dir / "a.h5";
  std::vector<std::int32_t> small = {1, -2, 3, 2147483647, -2147483647 - 1};
  std::vector<std::int64_t> big(200000);
  std::iota(big.begin(), big.end(), -100000);
  {
    h5::Handle f = h5::create_file(path);
    h5::ArrayOptions chunky;
    chunky.chunk_elements = 1000;
    h5::write_array(f, "small", small.data(), small.size());
    h5::write_array(f, "big", big.data(), big.size(), chunky);
    h5::ArrayOptions packed;
    packed.deflate_level = 6;
    h5::write_array(f, "packed", big.data(), big.size(), packed);
    h5::write_array(f, "empty", static_cast<const std::int32_t*>(nullptr), 0);
    h5::write_attribute(f, "text", std::string("caf\xC3\xA9 {\"json\": 1}"));
    h5::write_attribute(f, "blank", std::string());
    h5::write_attribute(f, "count", std::int64_t{-42});
    h5::write_attribute(f, "count", std::int64_t{43});  // replacing is allowed
    f.close();
  }
  h5::Handle f = h5::open_file(path);
  EXPECT_EQ(h5::read_int32_array(f, "small"), small);
  EXPECT_EQ(h5::read_int64_array(f, "big"), big);
  EXPECT_EQ(h5::read_int64_array(f, "packed"), big);
  EXPECT_TRUE(h5::read_int32_array(f, "empty").empty());
  EXPECT_EQ(h5::array_size(f, "big"), big.size());
  EXPECT_EQ(h5::read_string_attribute(f, "text"), "caf\xC3\xA9 {\"json\": 1}");
  EXPECT_EQ(h5::read_string_attribute(f, "blank"), "");
  EXPECT_EQ(h5::read_int_attribute(f, "count"), 43);
  EXPECT_TRUE(h5::has_link(f, "big"));
  EXPECT_FALSE(h5::has_link(f, "nope"));
  EXPECT_TRUE(h5::has_attribute(f, "text"));
  EXPECT_FALSE(h5::has_attribute(f, "nope"));
  EXPECT_EQ(h5::file_name(f), path.string());
}

TEST(Hdf5, WrongTypesAndMissingThingsAreFormatErrors) {
  ScratchDir dir;
  const auto path = dir / "a.h5";
  {
    h5::Handle f = h5::create_file(path);
    const std::int64_t v[] = {1, 2};
    h5::write_array(f, "wide", v, 2);
    h5::write_attribute(f, "n", std::int64_t{1});
    h5::write_attribute(f, "s", std::string("x"));
  }
  h5::Handle f = h5::open_file(path);
  ::testing::internal::CaptureStderr();
  EXPECT_THROW(h5::read_int32_array(f, "wide"), FormatError);
  EXPECT_THROW(h5::read_int64_array(f, "missing"), FormatError);
  EXPECT_THROW(h5::read_string_attribute(f, "n"), FormatError);
  EXPECT_THROW(h5::read_int_attribute(f, "s"), FormatError);
  EXPECT_THROW(h5::read_int_attribute(f, "missing"), FormatError);
  // HDF5's own error stack never reaches stderr.
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  try {
    h5::read_int64_array(f, "missing");
  } catch (const FormatError& e) {
    EXPECT_EQ(e.where(), path.string() + ": missing");
  }
}

TEST(Hdf5, OpenFailures) {
  ScratchDir dir;
  ::testing::internal::CaptureStderr();
  EXPECT_THROW(h5::open_file(dir / "absent.h5"), IoError);
  write_text(dir / "text.h5", "plain text, not HDF5");
  EXPECT_THROW(h5::open_file(dir / "text.h5"), FormatError);
  EXPECT_THROW(h5::open_file(dir.path()), IoError);
  EXPECT_THROW(h5::create_file(dir / "no" / "such" / "folder.h5"), IoError);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST(Hdf5, TruncationIsDetectedOnOpen) {
  ScratchDir dir;
  const auto path = dir / "a.h5";
  std::vector<std::int32_t> v(50000, 7);
  {
    h5::Handle f = h5::create_file(path);
    h5::write_array(f, "v", v.data(), v.size());
  }
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  try {
    h5::Handle f = h5::open_file(path);
    h5::read_int32_array(f, "v");
    FAIL() << "a truncated file was read";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos);
  }
}

TEST(Hdf5, Fletcher32CatchesAFlippedByte) {
  ScratchDir dir;
  const auto path = dir / "a.h5";
  // A recognisable pattern, so that the test can find the data bytes in the file.
  std::vector<std::int32_t> v(100000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int32_t>(0x5A5A0000 + (i & 0xFFFF));
  {
    h5::Handle f = h5::create_file(path);
    h5::write_array(f, "v", v.data(), v.size());
  }
  std::string bytes = loraft::io::read_file(path);
  const std::int32_t needle = 0x5A5A0000 + 12345;
  const auto at = bytes.find(std::string(reinterpret_cast<const char*>(&needle), 4));
  ASSERT_NE(at, std::string::npos);
  bytes[at] = static_cast<char>(bytes[at] ^ 0x01);
  write_text(path, bytes);
  h5::Handle f = h5::open_file(path);  // metadata intact: opens
  ::testing::internal::CaptureStderr();
  try {
    h5::read_int32_array(f, "v");
    FAIL() << "a flipped data byte went unnoticed";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");

  // Without the filter the same damage reads back silently: why the cache uses it.
  {
    h5::Handle g = h5::create_file(dir / "b.h5");
    h5::ArrayOptions plain;
    plain.fletcher32 = false;
    h5::write_array(g, "v", v.data(), v.size(), plain);
  }
  bytes = loraft::io::read_file(dir / "b.h5");
  const auto at2 = bytes.find(std::string(reinterpret_cast<const char*>(&needle), 4));
  ASSERT_NE(at2, std::string::npos);
  bytes[at2] = static_cast<char>(bytes[at2] ^ 0x01);
  write_text(dir / "b.h5", bytes);
  h5::Handle g = h5::open_file(dir / "b.h5");
  EXPECT_NE(h5::read_int32_array(g, "v"), v);
}

TEST(Hdf5, SealVouchesForEveryByte) {
  ScratchDir dir;
  const auto path = dir / "s.h5";
  std::vector<std::int32_t> v(5000, 3);
  {
    h5::FileOptions o;
    o.user_block = h5::kSealBytes;
    h5::Handle f = h5::create_file(path, o);
    h5::write_array(f, "v", v.data(), v.size());
    h5::write_attribute(f, "note", std::string("sealed"));
  }
  h5::seal_file(path);
  EXPECT_NO_THROW(h5::check_seal(path));
  {
    h5::Handle f = h5::open_file(path);  // the user block does not disturb HDF5
    EXPECT_EQ(h5::read_int32_array(f, "v"), v);
    EXPECT_EQ(h5::read_string_attribute(f, "note"), "sealed");
  }
  const std::string good = loraft::io::read_file(path);
  auto problem = [&](const std::string& bytes) {
    write_text(path, bytes);
    try {
      h5::check_seal(path);
    } catch (const FormatError& e) {
      EXPECT_EQ(e.where(), path.string());
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  // Any flipped byte, in the record, its padding, HDF5 metadata or data, is caught.
  for (std::size_t at = 0; at < good.size(); at += 61) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x40);
    EXPECT_NE(problem(bad), "accepted") << "byte " << at;
  }
  EXPECT_NE(problem(good.substr(0, good.size() - 1)).find("truncated or extended"), std::string::npos);
  EXPECT_NE(problem(good + "x").find("truncated or extended"), std::string::npos);
  std::string flipped = good;
  flipped[good.size() / 2] = static_cast<char>(flipped[good.size() / 2] ^ 1);
  EXPECT_NE(problem(flipped).find("checksum mismatch"), std::string::npos);
  EXPECT_NE(problem(good.substr(0, 100)).find("not a sealed file"), std::string::npos);
  EXPECT_EQ(problem(good), "accepted");

  // A file without a user block cannot be sealed, and is not sealed.
  {
    h5::Handle f = h5::create_file(dir / "plain.h5");
    h5::write_array(f, "v", v.data(), v.size());
  }
  EXPECT_THROW(h5::seal_file(dir / "plain.h5"), FormatError);
  EXPECT_THROW(h5::check_seal(dir / "plain.h5"), FormatError);
  EXPECT_THROW(h5::check_seal(dir / "absent.h5"), IoError);
}
