// Fuzz target: data::read_imdb (lib/loraft/data/imdb.cpp), the aclImdb folder reader: review
// file names <id>_<rating>.txt (ids, ratings 0-10, duplicates), strict UTF-8 of the review
// bytes. The tiny tree aclImdb/train/{pos,neg} is built once; pos holds one fixed review, and
// each input becomes the one file of neg: its first line is the file name, the rest the review.
// Seeds: the reviews of data/samples/imdb, each as "<file name>\n<bytes>".
#include "fuzz_support.h"
#include "loraft/data/imdb.h"

using namespace loraft;

namespace {

std::filesystem::path root() { return fuzz::scratch_dir() / "aclImdb"; }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  fuzz::write_file(root() / "train/pos/0_9.txt", "A fine film.");
  std::filesystem::create_directories(root() / "train/neg");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  if (newline == std::string_view::npos) return 0;
  const std::string name(input.substr(0, newline));
  // A name the file system cannot hold is no input to the reader.
  if (name.empty() || name.size() > 255 || name == "." || name == ".." ||
      name.find_first_of(std::string_view("/\0", 2)) != std::string::npos)
    return 0;
  const auto neg = root() / "train/neg";
  std::filesystem::remove_all(neg);
  fuzz::write_file(neg / name, input.substr(newline + 1));
  return fuzz::guarded([&] {
    const data::Dataset d = data::read_imdb(fuzz::scratch_dir(), "train");
    fuzz::check_no_error([&] { d.validate(); }, "a reader's data set passes Dataset::validate()");
    fuzz::check(d.size() == 2 && d.labels[0] == 0 && d.labels[1] == 1, "neg first, then pos");
  });
}
