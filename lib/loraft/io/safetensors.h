#pragma once
/// @file
/// @brief safetensors files: a validating memory-mapped reader, a writer that lays files out
/// exactly as the reference (Rust) `safetensors` library does, and LibTorch tensors in and out.
///
/// The format (https://github.com/huggingface/safetensors, v0.4.5): an 8-byte little-endian
/// unsigned header length N, N bytes of UTF-8 JSON, then the data section. The JSON maps each
/// tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to
/// the data section) and may hold a `__metadata__` object of string pairs. The reference
/// reader rejects any header whose tensors do not tile the data section exactly, and so does
/// this one.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace loraft::io {

/// The element types loraft reads and writes, under safetensors' own names.
///
/// They are declared in the order of the reference library's `Dtype` enum (increasing
/// alignment), which the writer's sort relies on. Other safetensors dtypes (U16, U32, U64,
/// F8_*) are rejected with a clear error: LibTorch 1.13 has no tensor type for them.
enum class Dtype { BOOL, U8, I8, I16, F16, BF16, I32, F32, F64, I64 };

/// The dtype's name in a safetensors header ("F32", "BF16", ...).
std::string_view dtype_name(Dtype dtype);

/// Bytes per element.
std::size_t dtype_size(Dtype dtype);

/// The dtype called `name`; FormatError naming `where` if the name is unknown or unsupported.
Dtype parse_dtype(std::string_view name, const std::string& where);

/// The string pairs stored under `__metadata__` (e.g. `{"format": "pt"}`).
using Metadata = std::map<std::string, std::string>;

/// One tensor of a safetensors file, as its header describes it.
struct TensorInfo {
  std::string name;                  ///< the tensor's key in the header
  Dtype dtype = Dtype::F32;          ///< element type
  std::vector<std::int64_t> shape;   ///< dimensions (empty for a scalar)
  std::uint64_t begin = 0;           ///< first byte, relative to the data section
  std::uint64_t end = 0;             ///< one past the last byte, relative to the data section

  /// Number of elements (1 for a scalar).
  std::uint64_t numel() const;
  /// end - begin.
  std::uint64_t byte_size() const { return end - begin; }
};

/// A parsed and validated header.
struct SafetensorsHeader {
  Metadata metadata;                 ///< `__metadata__`, empty when the file has none
  bool has_metadata = false;         ///< whether the header had a `__metadata__` key
  std::vector<TensorInfo> tensors;   ///< in data order (ascending offsets)
};

/// Parses and validates the JSON header of a safetensors file whose data section holds
/// `data_size` bytes. Checks UTF-8, JSON syntax, duplicate keys, `__metadata__` (an object of
/// strings), every tensor entry (dtype name, shape * dtype size == byte span, offsets inside
/// the data section) and that the tensors cover the data section without gaps or overlaps.
/// Throws FormatError with `where` (and the tensor name) on the first problem.
SafetensorsHeader parse_safetensors_header(std::string_view json, std::uint64_t data_size,
                                           const std::string& where);

/// A safetensors file opened read-only and memory-mapped; its header is validated on open,
/// tensor bytes are read lazily from the mapping.
///
/// @code
/// loraft::io::SafetensorsFile f("model.safetensors");
/// at::Tensor w = f.tensor("classifier.weight");   // a CPU copy with the file's dtype
/// @endcode
class SafetensorsFile {
 public:
  /// Opens, maps and validates `path`. Throws IoError if it cannot be read, FormatError if it
  /// is not a valid safetensors file.
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  /// Moves the mapping.
  SafetensorsFile(SafetensorsFile&&) noexcept;
  /// Moves the mapping.
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  /// The file's path.
  const std::filesystem::path& path() const noexcept { return path_; }
  /// `__metadata__` (empty when absent).
  const Metadata& metadata() const noexcept { return header_.metadata; }
  /// Whether the header had a `__metadata__` key.
  bool has_metadata() const noexcept { return header_.has_metadata; }
  /// Every tensor, in data order.
  const std::vector<TensorInfo>& tensors() const noexcept { return header_.tensors; }
  /// The tensor names in lexicographic order.
  std::vector<std::string> names() const;
  /// Whether a tensor called `name` exists.
  bool contains(const std::string& name) const;
  /// The header entry of `name`; FormatError naming the file if there is none.
  const TensorInfo& info(const std::string& name) const;
  /// The raw little-endian bytes of `name`, pointing into the mapping (valid while this
  /// object lives).
  std::string_view bytes(const std::string& name) const;
  /// A CPU tensor with the file's dtype and shape, copied out of the mapping.
  at::Tensor tensor(const std::string& name) const;
  /// tensor(), and a FormatError naming the file and the tensor if it is floating point and
  /// holds a NaN or an infinity: for weights, which are never meant to.
  at::Tensor finite_tensor(const std::string& name) const;

 private:
  std::filesystem::path path_;
  SafetensorsHeader header_;
  std::map<std::string, std::size_t> index_;
  const unsigned char* map_ = nullptr;
  std::size_t map_size_ = 0;
  std::uint64_t data_start_ = 0;
};

/// A tensor to write: the little-endian bytes of a C-contiguous array.
struct TensorBytes {
  std::string name;                  ///< key in the header
  Dtype dtype = Dtype::F32;          ///< element type
  std::vector<std::int64_t> shape;   ///< dimensions
  const void* data = nullptr;        ///< the bytes (must stay valid while writing)
  std::size_t size = 0;              ///< number of bytes: product(shape) * dtype_size(dtype)
};

/// Sorts `tensors` into the reference writer's order (dtype alignment descending, as the Rust
/// library's `prepare()` does, then name) and returns the file's first bytes: the 8-byte
/// length, the JSON header without spaces (`__metadata__` first, keys in sorted order, only
/// when `metadata` is non-empty), padded with spaces to a multiple of 8 bytes.
/// Throws ConfigError for duplicate or reserved names, sizes that do not match the shape, and
/// names that are not UTF-8.
std::string safetensors_header(std::vector<TensorBytes>& tensors, const Metadata& metadata = {});

/// Writes a safetensors file atomically (temporary file + rename): byte for byte what the
/// reference `safetensors.torch.save_file(tensors, path, metadata)` writes.
void write_safetensors(const std::filesystem::path& path, std::vector<TensorBytes> tensors,
                       const Metadata& metadata = {});

/// Named tensors in a chosen order (checkpoints, outputs).
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

/// The safetensors dtype of a LibTorch scalar type; ConfigError for types safetensors (or
/// loraft) cannot store, such as complex numbers.
Dtype dtype_of(c10::ScalarType type);

/// The LibTorch scalar type of a safetensors dtype.
c10::ScalarType scalar_type_of(Dtype dtype);

/// Reads every tensor of a safetensors file as CPU tensors, by name.
std::map<std::string, at::Tensor> load_safetensors(const std::filesystem::path& path);

/// Saves named tensors (from any device, any layout: they are made contiguous on the CPU
/// first) as a safetensors file, atomically, in the reference writer's layout.
void save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                      const Metadata& metadata = {});

}  // namespace loraft::io
