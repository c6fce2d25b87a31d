#pragma once
/// @file
/// @brief The Large Movie Review Dataset (aclImdb) folder reader.

#include <filesystem>
#include <string>

#include "loraft/data/dataset.h"

namespace loraft::data {

/// Reads split `split` ("train" or "test"; any folder with `pos/` and `neg/` works) of an
/// aclImdb tree: `root/<split>/{neg,pos}/<id>_<rating>.txt`. `root` is the `aclImdb` folder
/// itself or a folder that contains it.
///
/// Labels and texts are those of Hugging Face's `imdb` (`stanfordnlp/imdb`) builder:
/// label 0 = `neg`, 1 = `pos` (ClassLabel names ["neg", "pos"]); the text is the file's
/// bytes, decoded strictly as UTF-8 and otherwise untouched (`<br />` kept, no stripping).
///
/// Order: all `neg` examples, then all `pos`, each by ascending numeric file id. Hugging
/// Face's builder yields the members of `aclImdb_v1.tar.gz` in archive order
/// (`dl_manager.iter_archive`), which puts every `neg` file of a split before every `pos`
/// one (its train[0] is `train/neg/127_4.txt`, "I rented I AM CURIOUS-YELLOW...",
/// label 0); inside a label the archive order is the file system order of the machine
/// that made the tarball (127_4, 126_1, ...), which no folder records. So the label blocks
/// match HF; the order inside a block is made reproducible by sorting. (The older,
/// pre-streaming HF script read `pos` before `neg`, each `sorted(os.listdir())`.)
///
/// Every example keeps its origin (`train/neg/127_4.txt`), id (127) and star rating (4)
/// in Dataset::meta. The source key covers every review file's relative path and bytes.
///
/// Errors: IoError when the split or one of its label folders is missing; FormatError for
/// a `.txt` file not named `<id>_<rating>.txt`, a rating outside 0-10, a label folder
/// without reviews (an empty split), or invalid UTF-8 (naming the file and byte offset).
/// Other files (`urls_*.txt` sit one level up; hidden files) are ignored.
Dataset read_imdb(const std::filesystem::path& root, const std::string& split);

}  // namespace loraft::data
