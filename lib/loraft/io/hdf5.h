#pragma once
/// @file
/// @brief Thin RAII layer over the HDF5 C API: files, one-dimensional integer arrays with
/// checksums, scalar attributes, and HDF5 failures turned into loraft errors.
///
/// Only what loraft's caches need, on purpose: the C++ bindings Debian ships differ between
/// HDF5 releases, while this small C subset is stable from 1.10 on. Every function here
/// silences HDF5's own error printing for the duration of the call (HDF5 otherwise dumps
/// its whole error stack on stderr for conditions loraft handles) and throws
/// loraft::FormatError (bad or damaged content) or loraft::IoError (cannot open or write)
/// carrying the most specific messages of the HDF5 error stack.

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace loraft::io::hdf5 {

/// Owns one HDF5 identifier (file, dataset, dataspace, property list, ...) and closes it
/// with the matching H5?close function. Move-only.
class Handle {
 public:
  /// The function that releases an identifier of this kind (H5Fclose, H5Dclose, ...).
  using Closer = herr_t (*)(hid_t);

  /// An empty handle.
  Handle() noexcept = default;
  /// Takes ownership of `id` (which must be valid: callers check for failure first).
  Handle(hid_t id, Closer closer) noexcept : id_(id), closer_(closer) {}
  ~Handle();
  /// Takes over the other handle's identifier.
  Handle(Handle&& other) noexcept;
  /// Closes the held identifier and takes over the other one.
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  /// The raw identifier, for HDF5 calls not wrapped here.
  hid_t id() const noexcept { return id_; }
  /// True when an identifier is held.
  explicit operator bool() const noexcept { return id_ >= 0; }
  /// Closes now; reports a failed close (for files: the final flush) as IoError.
  void close();

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

/// Saves HDF5's automatic error printing for the current thread, turns it off, and
/// restores it on destruction. Every function of this header uses one; code that calls
/// the HDF5 C API directly can too.
class ErrorSilencer {
 public:
  ErrorSilencer() noexcept;
  ~ErrorSilencer();
  ErrorSilencer(const ErrorSilencer&) = delete;
  ErrorSilencer& operator=(const ErrorSilencer&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
  bool saved_ = false;
};

/// The most specific messages of the current thread's HDF5 error stack, joined with "; "
/// (empty when the stack is empty). Clears the stack.
std::string error_stack_message();

/// Options of create_file().
struct FileOptions {
  /// Bytes reserved at the start of the file for the application, which HDF5 skips: 0, or
  /// a power of two of at least 512. seal_file() needs kSealBytes.
  std::size_t user_block = 0;
};

/// Creates (or truncates) an HDF5 file for writing. The file uses the HDF5 1.10 object
/// formats, in which every piece of metadata (superblock, object headers, chunk indices)
/// carries a checksum, so damage to the structure is detected on open or read rather than
/// followed blindly. HDF5 file locking is off: loraft writes to a temporary name and
/// renames, so nobody reads a file while it is written, and locking fails on some
/// network file systems. Throws IoError.
Handle create_file(const std::filesystem::path& path, const FileOptions& options = {});

/// The user block size seal_file() writes its record into.
inline constexpr std::size_t kSealBytes = 512;

/// Seals a closed HDF5 file created with `user_block = kSealBytes`: writes the size and the
/// SHA-256 of every byte after the user block into the user block, so that check_seal()
/// can vouch for the whole file before HDF5 parses any of it. HDF5's own checksums catch
/// damage too, but only while parsing, and some of HDF5 1.10's error paths for damaged
/// metadata keep internal state alive until exit ("HDF5: infinite loop closing library").
/// Throws IoError when the file cannot be read or written, FormatError when it has no
/// user block of that size.
void seal_file(const std::filesystem::path& path);

/// Checks a sealed file: FormatError `not a sealed file`, `truncated or extended` (size
/// differs from the sealed size) or `checksum mismatch` (some byte changed) naming the
/// path; IoError when it cannot be read.
void check_seal(const std::filesystem::path& path);

/// Opens an existing HDF5 file read-only. Throws IoError when it does not exist and
/// FormatError when it is not a readable HDF5 file (truncated, damaged, another format).
Handle open_file(const std::filesystem::path& path);

/// How write_array() lays an array out.
struct ArrayOptions {
  /// Elements per chunk. Chunking is what lets HDF5 apply filters; smaller chunks locate
  /// damage more finely, larger ones cost less metadata.
  std::size_t chunk_elements = std::size_t{1} << 16;
  /// HDF5's Fletcher-32 checksum filter on every chunk: a read of a chunk whose bytes
  /// changed fails instead of returning wrong numbers.
  bool fletcher32 = true;
  /// Deflate (gzip) level 1-9, or 0 for none.
  int deflate_level = 0;
};

/// Writes a one-dimensional int32 array `name` under `location` (a file or group).
void write_array(const Handle& location, const std::string& name, const std::int32_t* data,
                 std::size_t size, const ArrayOptions& options = {});
/// Writes a one-dimensional int64 array `name` under `location`.
void write_array(const Handle& location, const std::string& name, const std::int64_t* data,
                 std::size_t size, const ArrayOptions& options = {});

/// Reads the one-dimensional int32 array `name`. FormatError when it is missing, not
/// one-dimensional, not a 32-bit signed integer type, or fails its checksum.
std::vector<std::int32_t> read_int32_array(const Handle& location, const std::string& name);
/// Reads the one-dimensional int64 array `name` (see read_int32_array()).
std::vector<std::int64_t> read_int64_array(const Handle& location, const std::string& name);

/// True when `location` has a link (dataset or group) called `name`.
bool has_link(const Handle& location, const std::string& name);

/// Number of elements of the one-dimensional dataset `name` (FormatError if not 1-D).
std::size_t array_size(const Handle& location, const std::string& name);

/// Attaches a UTF-8 string attribute (fixed-length, NUL-padded) to `location`.
void write_attribute(const Handle& location, const std::string& name, const std::string& value);
/// Attaches a 64-bit signed integer attribute to `location`.
void write_attribute(const Handle& location, const std::string& name, std::int64_t value);

/// True when `location` carries the attribute `name`.
bool has_attribute(const Handle& location, const std::string& name);
/// Reads a string attribute; FormatError when missing or not a string.
std::string read_string_attribute(const Handle& location, const std::string& name);
/// Reads an integer attribute; FormatError when missing or not an integer.
std::int64_t read_int_attribute(const Handle& location, const std::string& name);

/// The file name HDF5 knows `location` by (for error messages).
std::string file_name(const Handle& location);

}  // namespace loraft::io::hdf5
