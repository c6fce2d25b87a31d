#include "loraft/data/token_cache.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <system_error>

#include <nlohmann/json.hpp>

#include "loraft/core/error.h"
#include "loraft/core/hash.h"
#include "loraft/core/timing.h"
#include "loraft/core/log.h"
#include "loraft/core/progress.h"
#include "loraft/core/threads.h"
#include "loraft/core/version.h"
#include "loraft/io/file.h"
#include "loraft/io/hdf5.h"

namespace loraft::data {
namespace fs = std::filesystem;
namespace h5 = io::hdf5;

namespace {

constexpr const char* kFormatTag = "loraft.token_cache";

// Feeds an integer array as little-endian bytes whatever the host's byte order, so that
// the checksum of a file does not depend on the machine that reads it.
template <typename T>
void hash_array(Sha256& sha, const std::vector<T>& values) {
  unsigned char len[8];
  const std::uint64_t n = values.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  sha.update(len, sizeof len);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  sha.update(values.data(), values.size() * sizeof(T));
#else
  std::vector<unsigned char> buf;
  buf.reserve(sizeof(T) * 4096);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto u = static_cast<std::make_unsigned_t<T>>(values[i]);
    for (std::size_t b = 0; b < sizeof(T); ++b) buf.push_back(static_cast<unsigned char>(u >> (8 * b)));
    if (buf.size() >= sizeof(T) * 4096) {
      sha.update(buf.data(), buf.size());
      buf.clear();
    }
  }
  sha.update(buf.data(), buf.size());
#endif
}

std::string source_description(const Dataset& d, const std::string& content_sha256) {
  nlohmann::ordered_json j;
  j["name"] = d.name;
  j["source_sha256"] = d.source_sha256;
  j["content_sha256"] = content_sha256;
  j["recipe"] = d.recipe;
  j["label_names"] = d.label_names;
  j["files"] = d.sources.size();
  if (!d.sources.empty()) j["first_file"] = d.sources.front().string();
  return j.dump();
}

std::string key_for(const Dataset& dataset, const std::string& content_sha256,
                    const std::string& fingerprint, const TokenCacheOptions& options) {
  Sha256 sha;
  sha.update_field(kFormatTag);
  sha.update_field(std::to_string(kTokenCacheFormatVersion));
  sha.update_field(dataset.source_sha256);
  sha.update_field(content_sha256);
  sha.update_field(fingerprint);
  sha.update_field("max_length=" + std::to_string(options.max_length));
  sha.update_field(std::string("truncation=") + (options.truncation ? "1" : "0"));
  return sha.hex();
}

// Why `file` cannot serve `dataset` under `key`; empty when it can.
std::string mismatch(const TokenCacheFile& file, const Dataset& dataset, const std::string& key,
                     const TokenCacheOptions& options) {
  if (file.key != key) return "its key attribute is " + file.key + ", not the file name's";
  if (file.max_length != options.max_length || file.truncation != options.truncation)
    return "it was built with other truncation settings";
  if (file.rows.size() != static_cast<std::int64_t>(dataset.size()))
    return "it holds " + std::to_string(file.rows.size()) + " rows, the data set " +
           std::to_string(dataset.size());
  if (file.rows.labels != dataset.labels) return "its labels differ from the data set's";
  if (options.truncation)
    for (std::int64_t i = 0; i < file.rows.size(); ++i)
      if (file.rows.length(i) > options.max_length)
        return "row " + std::to_string(i) + " is longer than max_length";
  return {};
}

}  // namespace

std::vector<std::int32_t> BertTextEncoder::encode(std::string_view text, int max_length,
                                                  bool truncation) const {
  return tokenizer_.encode(text, max_length, truncation, text::Padding::none).input_ids;
}

fs::path default_token_cache_folder() {
  if (const char* env = std::getenv("LORAFT_CACHE_DIR"); env && *env) return fs::path(env) / "tokens";
  return fs::path(".cache") / "loraft" / "tokens";
}

std::string token_cache_key(const Dataset& dataset, const std::string& tokenizer_fingerprint,
                            const TokenCacheOptions& options) {
  return key_for(dataset, dataset.content_sha256(), tokenizer_fingerprint, options);
}

std::string token_rows_sha256(const TokenRows& rows) {
  Sha256 sha;
  sha.update_field("loraft.token_rows/1");
  hash_array(sha, rows.ids);
  hash_array(sha, rows.offsets);
  hash_array(sha, rows.labels);
  return sha.hex();
}

TokenRows encode_dataset(const Dataset& dataset, const TextEncoder& encoder, int max_length,
                         bool truncation, int threads, bool progress) {
  dataset.validate();
  const std::size_t n = dataset.size();
  TokenRows rows;
  rows.offsets.reserve(n + 1);
  rows.offsets.push_back(0);
  rows.labels = dataset.labels;
  const int t = threads > 0 ? threads : num_threads();
  // Blocks keep the memory of per-row vectors bounded and let the bar move; the result
  // is the concatenation in row order whatever the thread count.
  const std::size_t block = std::max<std::size_t>(256, static_cast<std::size_t>(t) * 512);
  std::vector<std::vector<std::int32_t>> encoded;
  std::unique_ptr<ProgressBar> bar;
  if (progress) bar = std::make_unique<ProgressBar>("tokenize " + dataset.name, static_cast<std::int64_t>(n), "rows");
  for (std::size_t begin = 0; begin < n; begin += block) {
    const std::size_t end = std::min(n, begin + block);
    encoded.assign(end - begin, {});
    parallel_for(
        end - begin,
        [&](std::size_t b, std::size_t e) {
          for (std::size_t k = b; k < e; ++k) {
            const std::size_t i = begin + k;
            try {
              encoded[k] = encoder.encode(dataset.texts[i], max_length, truncation);
            } catch (const Error& err) {
              const std::string where =
                  dataset.name + ": " +
                  (dataset.meta.size() == n ? dataset.meta[i].origin : "example " + std::to_string(i));
              throw FormatError("cannot encode: " + err.problem(), where, err.expected());
            }
          }
        },
        t);
    for (auto& row : encoded) {
      rows.ids.insert(rows.ids.end(), row.begin(), row.end());
      rows.offsets.push_back(static_cast<std::int64_t>(rows.ids.size()));
    }
    if (bar) bar->advance(static_cast<std::int64_t>(end - begin));
  }
  if (bar) bar->finish();
  return rows;
}

TokenCacheFile read_token_cache(const fs::path& path) {
  const std::string where = path.string();
  // Every byte is vouched for before HDF5 parses any: damage never reaches HDF5's parser.
  h5::check_seal(path);
  h5::Handle f = h5::open_file(path);
  if (!h5::has_attribute(f, "format") || h5::read_string_attribute(f, "format") != kFormatTag)
    throw FormatError("not a loraft token cache", where, std::string("format attribute '") + kFormatTag + "'");
  TokenCacheFile out;
  out.format_version = h5::read_int_attribute(f, "format_version");
  if (out.format_version != kTokenCacheFormatVersion)
    throw FormatError("token cache format version " + std::to_string(out.format_version), where,
                      "version " + std::to_string(kTokenCacheFormatVersion));
  out.key = h5::read_string_attribute(f, "key");
  out.source = h5::read_string_attribute(f, "source");
  out.tokenizer = h5::read_string_attribute(f, "tokenizer");
  out.max_length = h5::read_int_attribute(f, "max_length");
  out.truncation = h5::read_int_attribute(f, "truncation") != 0;
  out.content_sha256 = h5::read_string_attribute(f, "content_sha256");
  const std::int64_t rows = h5::read_int_attribute(f, "rows");
  const std::int64_t tokens = h5::read_int_attribute(f, "tokens");
  // Sizes first: a damaged header must not make us allocate whatever it claims.
  if (h5::array_size(f, "labels") != static_cast<std::size_t>(rows) ||
      h5::array_size(f, "offsets") != static_cast<std::size_t>(rows) + 1 ||
      h5::array_size(f, "input_ids") != static_cast<std::size_t>(tokens))
    throw FormatError("array sizes disagree with the rows/tokens attributes", where,
                      "labels[rows], offsets[rows + 1], input_ids[tokens]");
  out.rows.ids = h5::read_int32_array(f, "input_ids");
  out.rows.offsets = h5::read_int64_array(f, "offsets");
  out.rows.labels = h5::read_int64_array(f, "labels");
  f.close();
  out.rows.validate(where);
  if (out.rows.offsets.empty())
    throw FormatError("no offsets", where, "rows + 1 offsets");
  if (token_rows_sha256(out.rows) != out.content_sha256)
    throw FormatError("content checksum mismatch", where, "content_sha256 of the stored arrays");
  return out;
}

void write_token_cache(const fs::path& path, const TokenCacheFile& file, int deflate_level) {
  file.rows.validate(path.string());
  if (file.rows.offsets.empty())
    throw FormatError("rows without offsets", path.string(), "rows + 1 offsets, starting at 0");
  if (path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec || !fs::is_directory(path.parent_path()))
      throw IoError("cannot create the cache folder" + (ec ? ": " + ec.message() : std::string()),
                    path.parent_path().string(), "a writable folder");
  }
  io::TemporaryFile tmp(path);
  {
    h5::FileOptions fo;
    fo.user_block = h5::kSealBytes;
    h5::Handle f = h5::create_file(tmp.path(), fo);
    h5::ArrayOptions a;
    a.deflate_level = deflate_level;
    const TokenRows& stored = file.rows;
    h5::write_array(f, "input_ids", stored.ids.data(), stored.ids.size(), a);
    h5::write_array(f, "offsets", stored.offsets.data(), stored.offsets.size(), a);
    h5::write_array(f, "labels", stored.labels.data(), stored.labels.size(), a);
    h5::write_attribute(f, "format", std::string(kFormatTag));
    h5::write_attribute(f, "format_version", kTokenCacheFormatVersion);
    h5::write_attribute(f, "key", file.key);
    h5::write_attribute(f, "source", file.source);
    h5::write_attribute(f, "tokenizer", file.tokenizer);
    h5::write_attribute(f, "max_length", file.max_length);
    h5::write_attribute(f, "truncation", std::int64_t{file.truncation ? 1 : 0});
    h5::write_attribute(f, "rows", stored.size());
    h5::write_attribute(f, "tokens", static_cast<std::int64_t>(stored.ids.size()));
    h5::write_attribute(f, "content_sha256", token_rows_sha256(stored));
    h5::write_attribute(f, "created_by", std::string("loraft ") + version());
    f.close();  // flushes; a failure here (disk full) throws before the rename
  }
  h5::seal_file(tmp.path());
  tmp.commit();
}

TokenCacheResult load_or_build(const Dataset& dataset, const TextEncoder& encoder,
                               const TokenCacheOptions& options) {
  const auto start = Clock::now();
  dataset.validate();
  TokenCacheResult result;
  const std::string content = dataset.content_sha256();
  const std::string fingerprint = encoder.fingerprint();
  result.key = key_for(dataset, content, fingerprint, options);
  result.path = options.folder / (result.key + ".h5");

  std::error_code ec;
  if (fs::exists(result.path, ec)) {
    std::string problem;
    try {
      TokenCacheFile file = read_token_cache(result.path);
      problem = mismatch(file, dataset, result.key, options);
      if (problem.empty()) {
        result.rows = std::move(file.rows);
        result.hit = true;
      }
    } catch (const Error& e) {
      problem = e.what();
    } catch (const std::bad_alloc&) {
      problem = "it claims more data than fits in memory";
    }
    if (!result.hit) {
      result.rebuilt_because = problem;
      log_warning("token cache " + result.path.string() + " is unusable (" + problem +
                  "); rebuilding it");
    }
  }

  if (!result.hit) {
    TokenCacheFile file;
    file.rows = encode_dataset(dataset, encoder, options.max_length, options.truncation,
                               options.threads, options.progress);
    file.format_version = kTokenCacheFormatVersion;
    file.key = result.key;
    file.source = source_description(dataset, content);
    file.tokenizer = fingerprint;
    file.max_length = options.max_length;
    file.truncation = options.truncation;
    write_token_cache(result.path, file, options.deflate_level);
    result.rows = std::move(file.rows);
  }
  result.seconds = seconds_since(start);
  return result;
}

TokenCacheResult load_or_build(const Dataset& dataset, const text::BertTokenizer& tokenizer,
                               const TokenCacheOptions& options) {
  return load_or_build(dataset, BertTextEncoder(tokenizer), options);
}

}  // namespace loraft::data
