// Fuzz target: data::read_token_cache (lib/loraft/data/token_cache.cpp, with the seal check
// of lib/loraft/io/hdf5.cpp, check_seal): the 512-byte seal record (magic, SHA-256, size) that
// vouches for every byte before HDF5 parses any, then the HDF5 structure, attributes, array
// sizes against the rows/tokens attributes, offsets and the content checksum. HDF5's own
// parser (libhdf5) is reached only by a file the fuzzer reseals with its right digest, which
// it learns from the comparison (tests/fuzz/regressions/token_cache/, tests/fuzz/lsan.supp).
// Seeds: no cache file is shipped, so with LORAFT_FUZZ_SEED_DIR set the target first writes
// one valid cache there (write_token_cache), which scripts/fuzz.sh puts in the corpus.
#include <cstdlib>

#include "fuzz_support.h"
#include "loraft/data/token_cache.h"

using namespace loraft;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  if (const char* dir = std::getenv("LORAFT_FUZZ_SEED_DIR"); dir && *dir) {
    data::TokenCacheFile file;
    file.rows.ids = {101, 7592, 102, 101, 2204, 3185, 102};
    file.rows.offsets = {0, 3, 7};
    file.rows.labels = {0, 1};
    file.format_version = data::kTokenCacheFormatVersion;
    file.key = "fuzz-seed";
    file.source = R"({"name":"fuzz"})";
    file.tokenizer = "fuzz";
    file.max_length = 8;
    data::write_token_cache(std::filesystem::path(dir) / "valid.h5", file);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = fuzz::input_file("cache.h5", data, size);
  return fuzz::guarded([&] {
    const data::TokenCacheFile file = data::read_token_cache(path);
    fuzz::check_no_error([&] { file.rows.validate("read_token_cache"); }, "accepted rows are consistent");
    fuzz::check(file.rows.offsets.back() == static_cast<std::int64_t>(file.rows.ids.size()),
                "offsets end at the number of ids");
  });
}
