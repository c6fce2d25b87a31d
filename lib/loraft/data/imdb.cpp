#include "loraft/data/imdb.h"

#include <algorithm>
#include <cstdint>
#include <system_error>
#include <vector>

#include "loraft/core/error.h"
#include "loraft/core/progress.h"
#include "loraft/core/strings.h"
#include "loraft/io/file.h"

namespace loraft::data {
namespace fs = std::filesystem;

namespace {

struct ReviewFile {
  std::int64_t id;
  std::int32_t rating;
  std::string name;
};

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 18 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The review files of one label folder, by ascending id.
std::vector<ReviewFile> list_reviews(const fs::path& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec))
    throw IoError("missing folder", folder.string(), "an aclImdb label folder with <id>_<rating>.txt files");
  std::vector<ReviewFile> files;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (!ends_with(name, ".txt")) continue;
    const std::string stem = name.substr(0, name.size() - 4);
    const auto underscore = stem.find('_');
    const std::string id = stem.substr(0, underscore);
    const std::string rating =
        underscore == std::string::npos ? std::string() : stem.substr(underscore + 1);
    if (underscore == std::string::npos || !all_digits(id) || !all_digits(rating) ||
        rating.size() > 2)
      throw FormatError("review file name not of the form <id>_<rating>.txt", (folder / name).string(),
                        "e.g. 0_9.txt");
    const int r = std::stoi(rating);
    if (r > 10)
      throw FormatError("star rating " + rating + " out of range", (folder / name).string(),
                        "a rating from 0 to 10");
    if (!it->is_regular_file(ec))
      throw IoError("not a regular file", (folder / name).string(), "a review text file");
    files.push_back({std::stoll(id), static_cast<std::int32_t>(r), name});
  }
  if (ec) throw IoError("cannot list the folder: " + ec.message(), folder.string());
  std::sort(files.begin(), files.end(),
            [](const ReviewFile& a, const ReviewFile& b) { return a.id < b.id; });
  for (std::size_t i = 1; i < files.size(); ++i)
    if (files[i].id == files[i - 1].id)
      throw FormatError("two reviews with id " + std::to_string(files[i].id) + " (" +
                            files[i - 1].name + ", " + files[i].name + ")",
                        folder.string(), "one file per id");
  if (files.empty())
    throw FormatError("empty split: no <id>_<rating>.txt reviews", folder.string(),
                      "at least one review per label");
  return files;
}

}  // namespace

Dataset read_imdb(const fs::path& root, const std::string& split) {
  if (split.empty() || split.find('/') != std::string::npos || split == "." || split == "..")
    throw ConfigError("invalid split name '" + split + "'", "read_imdb", "train or test");
  std::error_code ec;
  fs::path base = root;
  if (!fs::is_directory(base / split, ec) && fs::is_directory(root / "aclImdb" / split, ec))
    base = root / "aclImdb";
  if (!fs::is_directory(base, ec))
    throw IoError("missing folder", root.string(), "an aclImdb folder");
  if (!fs::is_directory(base / split, ec))
    throw IoError("missing split folder '" + split + "'", (base / split).string(),
                  "an aclImdb tree with " + split + "/pos and " + split + "/neg");

  // HF's ClassLabel(names=["neg", "pos"]): neg = 0, pos = 1; neg is read first.
  const char* labels[] = {"neg", "pos"};
  std::vector<std::vector<ReviewFile>> lists;
  std::size_t total = 0;
  for (const char* label : labels) {
    lists.push_back(list_reviews(base / split / label));
    total += lists.back().size();
  }

  Dataset d;
  d.name = "imdb/" + split;
  d.label_names = {"neg", "pos"};
  d.recipe = "read_imdb/1 split=" + split + " labels=neg:0,pos:1 order=neg,pos by id; text = file bytes";
  d.texts.reserve(total);
  d.labels.reserve(total);
  d.meta.reserve(total);
  d.sources.reserve(total);
  SourceDigest digest;
  ProgressBar progress("read " + d.name, static_cast<std::int64_t>(total), "files");
  for (std::size_t l = 0; l < lists.size(); ++l) {
    for (const ReviewFile& f : lists[l]) {
      const std::string relative = split + "/" + labels[l] + "/" + f.name;
      const fs::path path = base / split / labels[l] / f.name;
      std::string bytes = io::read_file(path);
      check_utf8_text(bytes, path.string());
      digest.add(relative, bytes);
      d.texts.push_back(std::move(bytes));
      d.labels.push_back(static_cast<std::int64_t>(l));
      d.meta.push_back({relative, f.id, f.rating});
      d.sources.push_back(path);
      progress.advance();
    }
  }
  progress.finish();
  d.source_sha256 = digest.hex();
  return d;
}

}  // namespace loraft::data
