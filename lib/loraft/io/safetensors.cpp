#include "loraft/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include <torch/torch.h>

#include "loraft/core/error.h"
#include "loraft/io/file.h"
#include "loraft/io/json.h"

// safetensors stores little-endian bytes; loraft copies them as they are.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "loraft's safetensors I/O assumes a "
                                                         "little-endian host");

namespace loraft::io {
namespace fs = std::filesystem;

namespace {

// The reference reader refuses headers above 100 MB (safetensors/src/tensor.rs,
// MAX_HEADER_SIZE); so do we, so that a corrupt length cannot make us allocate gigabytes.
constexpr std::uint64_t kMaxHeaderSize = 100'000'000;

struct DtypeEntry {
  Dtype dtype;
  const char* name;
  std::size_t size;
  c10::ScalarType scalar;
};

constexpr DtypeEntry kDtypes[] = {
    {Dtype::BOOL, "BOOL", 1, c10::ScalarType::Bool},
    {Dtype::U8, "U8", 1, c10::ScalarType::Byte},
    {Dtype::I8, "I8", 1, c10::ScalarType::Char},
    {Dtype::I16, "I16", 2, c10::ScalarType::Short},
    {Dtype::F16, "F16", 2, c10::ScalarType::Half},
    {Dtype::BF16, "BF16", 2, c10::ScalarType::BFloat16},
    {Dtype::I32, "I32", 4, c10::ScalarType::Int},
    {Dtype::F32, "F32", 4, c10::ScalarType::Float},
    {Dtype::F64, "F64", 8, c10::ScalarType::Double},
    {Dtype::I64, "I64", 8, c10::ScalarType::Long},
};

const DtypeEntry& entry(Dtype d) {
  for (const auto& e : kDtypes)
    if (e.dtype == d) return e;
  throw std::logic_error("unknown loraft::io::Dtype");
}

std::string supported_dtypes() {
  std::string s;
  for (const auto& e : kDtypes) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return "one of " + s;
}

std::string tensor_where(const std::string& where, const std::string& name) {
  return where + ": tensor \"" + name + "\"";
}

// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF), as Rust's
// str::from_utf8, which the reference reader applies to the header. Returns the offset of the
// first bad byte, or npos.
std::size_t invalid_utf8_at(std::string_view s) {
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    unsigned c = p[i];
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return i;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size() || (p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n + 1;
  }
  return std::string_view::npos;
}

// JSON string escaping exactly as serde_json writes it (the reference writer): `"` and `\`,
// \b \f \n \r \t, other control characters as \u00xx (lower-case hex); everything else,
// non-ASCII included, is written as is.
void append_json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

bool mul_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  return __builtin_mul_overflow(a, b, &out);
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

TensorInfo parse_tensor_entry(const std::string& name, const Json& value, std::uint64_t data_size,
                              const std::string& where) {
  const std::string at = tensor_where(where, name);
  if (!value.is_object())
    throw FormatError("header entry is not an object", at,
                      "{\"dtype\": ..., \"shape\": [...], \"data_offsets\": [begin, end]}");
  TensorInfo info;
  info.name = name;

  auto dt = value.find("dtype");
  if (dt == value.end() || !dt->is_string())
    throw FormatError("missing or non-string \"dtype\"", at, "a dtype name such as \"F32\"");
  info.dtype = parse_dtype(dt->get<std::string>(), at);

  auto sh = value.find("shape");
  if (sh == value.end() || !sh->is_array())
    throw FormatError("missing or non-array \"shape\"", at, "a list of non-negative integers");
  std::uint64_t numel = 1;
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned())
      throw FormatError("shape holds " + d.dump(), at, "a list of non-negative integers");
    std::uint64_t v = d.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        mul_overflows(numel, v, numel))
      throw FormatError("shape " + sh->dump() + " overflows", at, "a shape whose size fits 64 bits");
    info.shape.push_back(static_cast<std::int64_t>(v));
  }

  auto off = value.find("data_offsets");
  if (off == value.end() || !off->is_array() || off->size() != 2 ||
      !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
    throw FormatError("missing or malformed \"data_offsets\"", at,
                      "[begin, end] with non-negative integers");
  info.begin = (*off)[0].get<std::uint64_t>();
  info.end = (*off)[1].get<std::uint64_t>();
  if (info.end < info.begin)
    throw FormatError("data_offsets [" + std::to_string(info.begin) + ", " +
                          std::to_string(info.end) + "] end before they begin",
                      at, "begin <= end");
  std::uint64_t nbytes;
  if (mul_overflows(numel, dtype_size(info.dtype), nbytes))
    throw FormatError("shape " + sh->dump() + " overflows", at, "a shape whose size fits 64 bits");
  if (nbytes != info.byte_size())
    throw FormatError("shape " + shape_string(info.shape) + " of " +
                          std::string(dtype_name(info.dtype)) + " needs " + std::to_string(nbytes) +
                          " bytes but data_offsets span " + std::to_string(info.byte_size()),
                      at, "shape * itemsize == end - begin");
  if (info.end > data_size)
    throw FormatError("data_offsets [" + std::to_string(info.begin) + ", " +
                          std::to_string(info.end) + "] lie outside the data section of " +
                          std::to_string(data_size) + " bytes",
                      at, "offsets inside the data section (the file may be truncated)");
  return info;
}

}  // namespace

std::string_view dtype_name(Dtype dtype) { return entry(dtype).name; }

std::size_t dtype_size(Dtype dtype) { return entry(dtype).size; }

Dtype parse_dtype(std::string_view name, const std::string& where) {
  for (const auto& e : kDtypes)
    if (name == e.name) return e.dtype;
  static const std::set<std::string_view> kKnownUnsupported = {"U16", "U32", "U64", "F8_E5M2",
                                                               "F8_E4M3", "C64", "C128"};
  if (kKnownUnsupported.count(name))
    throw FormatError("dtype \"" + std::string(name) + "\" is not supported (LibTorch has no such "
                      "tensor type)", where, supported_dtypes());
  throw FormatError("unknown dtype \"" + std::string(name) + "\"", where, supported_dtypes());
}

std::uint64_t TensorInfo::numel() const {
  std::uint64_t n = 1;
  for (auto d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

SafetensorsHeader parse_safetensors_header(std::string_view json, std::uint64_t data_size,
                                           const std::string& where) {
  if (auto bad = invalid_utf8_at(json); bad != std::string_view::npos)
    throw FormatError("header is not valid UTF-8 (byte " + std::to_string(bad) + " of the header)",
                      where, "a UTF-8 JSON header");
  // The reference reader insists on '{' first (InvalidHeaderStart); nlohmann would also skip
  // a byte-order mark or leading spaces, which the reference does not accept.
  if (json.empty() || json.front() != '{')
    throw FormatError("header does not start with '{'", where, "a JSON object");

  // Duplicate keys: nlohmann keeps the last silently, which would hide a corrupt file.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  Json root;
  try {
    root = Json::parse(json.begin(), json.end(),
                       [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
                         if (event == Json::parse_event_t::object_start) {
                           open_objects.emplace_back();
                         } else if (event == Json::parse_event_t::object_end) {
                           if (!open_objects.empty()) open_objects.pop_back();
                         } else if (event == Json::parse_event_t::key && !open_objects.empty()) {
                           auto key = parsed.get<std::string>();
                           if (!open_objects.back().insert(key).second && duplicate.empty())
                             duplicate = key;
                         }
                         return true;
                       });
  } catch (const nlohmann::json::exception& e) {  // syntax, or a number past double's range (1e400)
    throw FormatError("header is not valid JSON: " + std::string(e.what()), where,
                      "a JSON object");
  }
  if (!duplicate.empty())
    throw FormatError("duplicate key \"" + duplicate + "\" in the header", where,
                      "each tensor name once");
  if (!root.is_object()) throw FormatError("header is not a JSON object", where, "a JSON object");

  SafetensorsHeader header;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      header.has_metadata = true;
      if (!it->is_object())
        throw FormatError("__metadata__ is not an object", where, "an object of string values");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          throw FormatError("__metadata__ value of \"" + m.key() + "\" is not a string", where,
                            "an object of string values");
        header.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    header.tensors.push_back(parse_tensor_entry(it.key(), it.value(), data_size, where));
  }

  // The reference reader sorts by offsets and requires each tensor to start where the
  // previous one ended, and the last one to end at the end of the file
  // (Metadata::validate and MetadataIncompleteBuffer in safetensors/src/tensor.rs).
  auto& ts = header.tensors;
  std::sort(ts.begin(), ts.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  std::uint64_t covered = 0;
  const TensorInfo* previous = nullptr;
  for (const auto& t : ts) {
    if (t.begin < covered)
      throw FormatError("data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                            "] overlap tensor \"" + previous->name + "\" (which ends at " +
                            std::to_string(covered) + ")",
                        tensor_where(where, t.name), "tensors that do not share bytes");
    if (t.begin > covered)
      throw FormatError("gap of " + std::to_string(t.begin - covered) + " bytes before this "
                        "tensor (data_offsets begin at " + std::to_string(t.begin) +
                        ", the previous tensor ends at " + std::to_string(covered) + ")",
                        tensor_where(where, t.name), "tensors that cover the data section "
                        "without gaps");
    covered = t.end;
    previous = &t;
  }
  if (covered != data_size)
    throw FormatError("the last " + std::to_string(data_size - covered) + " bytes of the data "
                      "section belong to no tensor (tensors cover " + std::to_string(covered) +
                      " of " + std::to_string(data_size) + " bytes)",
                      where, "tensors that cover the data section exactly");
  return header;
}

// ----- reader -------------------------------------------------------------------------------

SafetensorsFile::SafetensorsFile(const fs::path& path) : path_(path) {
  const std::string where = path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) throw IoError("file not found", where, "an existing safetensors file");
    throw IoError(std::string("cannot open file: ") + std::strerror(errno), where);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw IoError("not a regular file", where, "a safetensors file");
  }
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    throw FormatError("file has " + std::to_string(file_size) + " bytes, too small for the "
                      "8-byte header length", where, "a safetensors file");
  }
  void* m = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_errno = errno;
  ::close(fd);
  if (m == MAP_FAILED)
    throw IoError(std::string("cannot memory-map file: ") + std::strerror(map_errno), where);
  map_ = static_cast<const unsigned char*>(m);
  map_size_ = file_size;
  try {
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | map_[i];
    if (n > kMaxHeaderSize)
      throw FormatError("header length " + std::to_string(n) + " exceeds the format's limit of " +
                        std::to_string(kMaxHeaderSize) + " bytes", where,
                        "a little-endian u64 header length (is this a safetensors file?)");
    // n <= 1e8, so 8 + n cannot overflow.
    if (8 + n > file_size)
      throw FormatError("header length " + std::to_string(n) + " is larger than the file (" +
                        std::to_string(file_size) + " bytes)", where,
                        "a header that fits in the file (the file may be truncated)");
    data_start_ = 8 + n;
    std::string_view json(reinterpret_cast<const char*>(map_ + 8), n);
    header_ = parse_safetensors_header(json, file_size - data_start_, where);
  } catch (...) {
    ::munmap(const_cast<unsigned char*>(map_), map_size_);
    map_ = nullptr;
    throw;
  }
  for (std::size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(const_cast<unsigned char*>(map_), map_size_);
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept
    : path_(std::move(o.path_)),
      header_(std::move(o.header_)),
      index_(std::move(o.index_)),
      map_(o.map_),
      map_size_(o.map_size_),
      data_start_(o.data_start_) {
  o.map_ = nullptr;
  o.map_size_ = 0;
}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& o) noexcept {
  if (this != &o) {
    if (map_) ::munmap(const_cast<unsigned char*>(map_), map_size_);
    path_ = std::move(o.path_);
    header_ = std::move(o.header_);
    index_ = std::move(o.index_);
    map_ = o.map_;
    map_size_ = o.map_size_;
    data_start_ = o.data_start_;
    o.map_ = nullptr;
    o.map_size_ = 0;
  }
  return *this;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& kv : index_) out.push_back(kv.first);
  return out;
}

bool SafetensorsFile::contains(const std::string& name) const { return index_.count(name) > 0; }

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end())
    throw FormatError("no tensor named \"" + name + "\"", path_.string(),
                      "a tensor of that name in the file");
  return header_.tensors[it->second];
}

std::string_view SafetensorsFile::bytes(const std::string& name) const {
  const TensorInfo& t = info(name);
  return {reinterpret_cast<const char*>(map_ + data_start_ + t.begin),
          static_cast<std::size_t>(t.byte_size())};
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const TensorInfo& t = info(name);
  std::string_view b = bytes(name);
  // BOOL bytes other than 0/1 would be undefined behaviour in a torch bool tensor: read the
  // bytes as U8 and compare with 0.
  const bool is_bool = t.dtype == Dtype::BOOL;
  auto out = at::empty(t.shape, at::TensorOptions().dtype(is_bool ? c10::ScalarType::Byte
                                                                  : scalar_type_of(t.dtype)));
  if (!b.empty()) std::memcpy(out.data_ptr(), b.data(), b.size());
  return is_bool ? out.ne(0) : out;
}

at::Tensor SafetensorsFile::finite_tensor(const std::string& name) const {
  at::Tensor t = tensor(name);
  if (t.is_floating_point() && !t.isfinite().all().item<bool>())
    throw FormatError("tensor \"" + name + "\" holds NaN or infinite values", path_.string(), "finite weights");
  return t;
}

// ----- writer -------------------------------------------------------------------------------

std::string safetensors_header(std::vector<TensorBytes>& tensors, const Metadata& metadata) {
  std::set<std::string> seen;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__")
      throw ConfigError("\"__metadata__\" is reserved and cannot name a tensor", "safetensors writer");
    if (invalid_utf8_at(t.name) != std::string_view::npos)
      throw ConfigError("tensor name is not valid UTF-8", "safetensors writer", "UTF-8 names");
    if (!seen.insert(t.name).second)
      throw ConfigError("duplicate tensor name \"" + t.name + "\"", "safetensors writer",
                        "unique names");
    std::uint64_t n = 1;
    for (auto d : t.shape) {
      if (d < 0 || mul_overflows(n, static_cast<std::uint64_t>(d), n))
        throw ConfigError("bad shape " + shape_string(t.shape), tensor_where("safetensors writer", t.name));
    }
    if (mul_overflows(n, dtype_size(t.dtype), n) || n != t.size)
      throw ConfigError("shape " + shape_string(t.shape) + " of " + std::string(dtype_name(t.dtype)) +
                        " does not match " + std::to_string(t.size) + " bytes",
                        tensor_where("safetensors writer", t.name));
  }
  for (const auto& kv : metadata)
    if (invalid_utf8_at(kv.first) != std::string_view::npos ||
        invalid_utf8_at(kv.second) != std::string_view::npos)
      throw ConfigError("metadata is not valid UTF-8", "safetensors writer", "UTF-8 strings");

  // safetensors/src/tensor.rs prepare(): "sorting by descending dtype alignment, then by
  // name" through the Dtype enum's order; Dtype here keeps that order.
  std::stable_sort(tensors.begin(), tensors.end(), [](const TensorBytes& a, const TensorBytes& b) {
    if (a.dtype != b.dtype) return static_cast<int>(a.dtype) > static_cast<int>(b.dtype);
    return a.name < b.name;
  });

  std::string json = "{";
  bool first = true;
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    bool first_pair = true;
    for (const auto& kv : metadata) {
      if (!first_pair) json += ",";
      first_pair = false;
      append_json_string(json, kv.first);
      json += ":";
      append_json_string(json, kv.second);
    }
    json += "}";
    first = false;
  }
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (!first) json += ",";
    first = false;
    append_json_string(json, t.name);
    json += ":{\"dtype\":\"";
    json += dtype_name(t.dtype);
    json += "\",\"shape\":" + shape_string(t.shape);
    json += ",\"data_offsets\":[" + std::to_string(offset) + "," +
            std::to_string(offset + t.size) + "]}";
    offset += t.size;
  }
  json += "}";
  // Padding with spaces to a multiple of 8 keeps the data section 8-byte aligned.
  json.append((8 - json.size() % 8) % 8, ' ');

  std::string out(8, '\0');
  std::uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + json;
}

void write_safetensors(const fs::path& path, std::vector<TensorBytes> tensors,
                       const Metadata& metadata) {
  std::string header = safetensors_header(tensors, metadata);
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  TemporaryFile tmp(path);
  {
    std::ofstream out(tmp.path(), std::ios::binary | std::ios::trunc);
    if (!out) throw IoError("cannot create file", tmp.path().string(), "a writable folder");
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& t : tensors)
      out.write(static_cast<const char*>(t.data), static_cast<std::streamsize>(t.size));
    out.flush();
    if (!out) throw IoError("write error (disk full?)", tmp.path().string());
  }
  tmp.commit();
}

// ----- LibTorch bridge ----------------------------------------------------------------------

Dtype dtype_of(c10::ScalarType type) {
  for (const auto& e : kDtypes)
    if (e.scalar == type) return e.dtype;
  throw ConfigError(std::string("tensor type ") + c10::toString(type) +
                        " cannot be stored in safetensors by loraft",
                    "safetensors writer", supported_dtypes());
}

c10::ScalarType scalar_type_of(Dtype dtype) { return entry(dtype).scalar; }

std::map<std::string, at::Tensor> load_safetensors(const fs::path& path) {
  SafetensorsFile file(path);
  std::map<std::string, at::Tensor> out;
  for (const auto& t : file.tensors()) out.emplace(t.name, file.tensor(t.name));
  return out;
}

void save_safetensors(const fs::path& path, const NamedTensors& tensors, const Metadata& metadata) {
  std::vector<at::Tensor> keep;  // the CPU contiguous copies the bytes point into
  keep.reserve(tensors.size());
  std::vector<TensorBytes> items;
  items.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined())
      throw ConfigError("tensor is undefined", tensor_where(path.string(), name));
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    keep.push_back(t);
    TensorBytes b;
    b.name = name;
    b.dtype = dtype_of(t.scalar_type());
    b.shape.assign(t.sizes().begin(), t.sizes().end());
    b.data = t.data_ptr();
    b.size = t.numel() * t.element_size();
    items.push_back(std::move(b));
  }
  write_safetensors(path, std::move(items), metadata);
}

}  // namespace loraft::io
