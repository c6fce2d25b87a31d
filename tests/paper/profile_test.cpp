// Paper profiles that are damaged or hostile, each found by the paper_profile fuzz target
// (tests/fuzz; the inputs are in tests/fuzz/regressions/paper_profile): a float where an integer
// belongs (a train_limit of 2e21 was cast to an integer: undefined behaviour), a note or fetch
// table of another type (nlohmann's type_error), a model path too long for the file system
// (std::filesystem_error). Each is one ConfigError naming the profile. (A file of its own:
// paper_test.cpp holds the end-to-end cases.)
#include <gtest/gtest.h>

#include <filesystem>

#include "loraft/core/error.h"
#include "loraft/paper/profile.h"
#include "support/test_support.h"

namespace {

using loraft::testing::source_dir;

TEST(Profile, DamagedProfilesAreOneConfigError) {
  const auto regressions = source_dir() / "tests/fuzz/regressions/paper_profile";
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(regressions)) {
    ++files;
    try {
      loraft::paper::Profile::load(e.path().string(), source_dir());
      ADD_FAILURE() << e.path() << " loaded";
    } catch (const loraft::ConfigError& error) {
      EXPECT_NE(error.where().find(e.path().filename().string()), std::string::npos) << error.what();
    }
  }
  EXPECT_GE(files, 4);
  loraft::testing::ScratchDir dir;
  for (const char* bad : {R"("seeds": [-1])", R"("seeds": [1.5])", R"("sweep_seeds": 1e300)", R"("threads": 1e300)",
                          R"("threads": 4294967296)", R"("data": [1])"}) {
    loraft::testing::write_text(dir / "p.json", std::string(R"({"model": "tests/fixtures/distilbert-tiny", "data": {}, )") +
                                                    bad + "}");
    EXPECT_THROW(loraft::paper::Profile::load((dir / "p.json").string(), source_dir()), loraft::ConfigError) << bad;
  }
}

}  // namespace
