#include "loraft/io/hdf5.h"

#include <algorithm>
#include <fstream>
#include <new>
#include <stdexcept>
#include <system_error>

#include "loraft/core/error.h"
#include "loraft/core/hash.h"

namespace loraft::io::hdf5 {
namespace fs = std::filesystem;

namespace {

// Native (memory) and stored (file) types: files are always little-endian, whatever the
// machine, so that a cache copied between machines stays readable.
template <typename T>
struct Types;
template <>
struct Types<std::int32_t> {
  static hid_t memory() { return H5T_NATIVE_INT32; }
  static hid_t file() { return H5T_STD_I32LE; }
  static constexpr const char* name = "int32";
};
template <>
struct Types<std::int64_t> {
  static hid_t memory() { return H5T_NATIVE_INT64; }
  static hid_t file() { return H5T_STD_I64LE; }
  static constexpr const char* name = "int64";
};

std::string where_of(const Handle& location, const std::string& name) {
  return file_name(location) + ": " + name;
}

[[noreturn]] void fail_format(const std::string& what, const std::string& where,
                              const std::string& expected = {}) {
  std::string detail = error_stack_message();
  throw FormatError(detail.empty() ? what : what + " (" + detail + ")", where, expected);
}

[[noreturn]] void fail_io(const std::string& what, const std::string& where) {
  std::string detail = error_stack_message();
  throw IoError(detail.empty() ? what : what + " (" + detail + ")", where);
}

Handle file_access_list() {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl) fail_io("cannot create an HDF5 file access property list", "");
  // Metadata checksums everywhere (superblock v3, object header v2, checksummed chunk
  // indices) need the 1.10 formats.
  if (H5Pset_libver_bounds(fapl.id(), H5F_LIBVER_V110, H5F_LIBVER_LATEST) < 0)
    fail_io("cannot select the HDF5 1.10 file format", "");
  // Closing the file closes whatever is still open in it, so that after close() the file
  // is complete on disk and can be renamed into place.
  if (H5Pset_fclose_degree(fapl.id(), H5F_CLOSE_STRONG) < 0)
    fail_io("cannot set the HDF5 close degree", "");
#if H5_VERSION_GE(1, 10, 7)
  if (H5Pset_file_locking(fapl.id(), false, true) < 0)
    fail_io("cannot turn HDF5 file locking off", "");
#endif
  return fapl;
}

template <typename T>
void write_array_impl(const Handle& location, const std::string& name, const T* data,
                      std::size_t size, const ArrayOptions& options) {
  ErrorSilencer quiet;
  // Computed first: any HDF5 call (H5Fget_name too) clears the error stack we report.
  const std::string where = where_of(location, name);
  const hsize_t dims[1] = {static_cast<hsize_t>(size)};
  // Fixed maximum size: HDF5 then indexes the chunks with its checksummed fixed array.
  Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
  if (!space) fail_io("cannot create a dataspace", where);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (!dcpl) fail_io("cannot create a dataset property list", where);
  // No creation/modification times: the same content gives the same bytes.
  if (H5Pset_obj_track_times(dcpl.id(), false) < 0) fail_io("cannot turn time tracking off", where);
  if (size > 0) {
    const hsize_t chunk[1] = {static_cast<hsize_t>(
        std::min<std::size_t>(size, std::max<std::size_t>(1, options.chunk_elements)))};
    if (H5Pset_chunk(dcpl.id(), 1, chunk) < 0)
      fail_io("cannot set the chunk size", where);
    // Filters run in the order they are added: the checksum goes last so that it covers
    // the bytes as stored.
    if (options.deflate_level > 0 &&
        H5Pset_deflate(dcpl.id(), static_cast<unsigned>(std::min(options.deflate_level, 9))) < 0)
      fail_io("cannot add the deflate filter", where);
    if (options.fletcher32 && H5Pset_fletcher32(dcpl.id()) < 0)
      fail_io("cannot add the Fletcher-32 filter", where);
  }
  Handle dataset(H5Dcreate2(location.id(), name.c_str(), Types<T>::file(), space.id(),
                            H5P_DEFAULT, dcpl.id(), H5P_DEFAULT),
                 H5Dclose);
  if (!dataset) fail_io("cannot create the dataset", where);
  if (size > 0 &&
      H5Dwrite(dataset.id(), Types<T>::memory(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    fail_io("cannot write the dataset (disk full?)", where);
  dataset.close();
}

// Opens the dataset `name`; FormatError at `where` if there is none.
Handle open_dataset(const Handle& location, const std::string& name, const std::string& where) {
  if (!has_link(location, name))
    throw FormatError("missing dataset", where, std::string("a dataset '") + name + "'");
  Handle dataset(H5Dopen2(location.id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dataset) fail_format("cannot open the dataset", where);
  return dataset;
}

// Opens a dataset and checks that it is a one-dimensional signed integer array of T's size.
template <typename T>
Handle open_array(const Handle& location, const std::string& name, hsize_t& size) {
  const std::string where = where_of(location, name);
  Handle dataset = open_dataset(location, name, where);
  Handle space(H5Dget_space(dataset.id()), H5Sclose);
  if (!space) fail_format("cannot read the dataspace", where);
  if (H5Sget_simple_extent_ndims(space.id()) != 1)
    throw FormatError("dataset is not one-dimensional", where, "a 1-D array");
  hsize_t dims[1] = {0};
  if (H5Sget_simple_extent_dims(space.id(), dims, nullptr) < 0)
    fail_format("cannot read the dataset size", where);
  Handle type(H5Dget_type(dataset.id()), H5Tclose);
  if (!type) fail_format("cannot read the datatype", where);
  if (H5Tget_class(type.id()) != H5T_INTEGER || H5Tget_size(type.id()) != sizeof(T) ||
      H5Tget_sign(type.id()) != H5T_SGN_2)
    throw FormatError("dataset has the wrong element type", where,
                      std::string("signed ") + Types<T>::name);
  size = dims[0];
  return dataset;
}

template <typename T>
std::vector<T> read_array_impl(const Handle& location, const std::string& name) {
  ErrorSilencer quiet;
  hsize_t size = 0;
  Handle dataset = open_array<T>(location, name, size);
  const std::string where = where_of(location, name);
  std::vector<T> out;
  try {
    out.resize(static_cast<std::size_t>(size));
  } catch (const std::bad_alloc&) {
    throw FormatError("implausible dataset size " + std::to_string(size), where);
  } catch (const std::length_error&) {
    throw FormatError("implausible dataset size " + std::to_string(size), where);
  }
  if (size > 0 && H5Dread(dataset.id(), Types<T>::memory(), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                          out.data()) < 0)
    fail_format("cannot read the dataset: damaged data or checksum mismatch", where);
  return out;
}

// An open attribute holding one value of the type class `type_class` (`kind` names it in
// errors: "a string", "an integer"), and its stored type.
struct ScalarAttribute {
  Handle attr;
  Handle type;
};

ScalarAttribute open_scalar_attribute(const Handle& location, const std::string& name, H5T_class_t type_class,
                                      const std::string& kind) {
  const std::string where = where_of(location, name);
  if (!has_attribute(location, name))
    throw FormatError("missing attribute", where, "an attribute '" + name + "'");
  Handle attr(H5Aopen(location.id(), name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr) fail_format("cannot open the attribute", where);
  Handle type(H5Aget_type(attr.id()), H5Tclose);
  if (!type || H5Tget_class(type.id()) != type_class)
    throw FormatError("attribute is not " + kind, where, kind + " attribute");
  Handle space(H5Aget_space(attr.id()), H5Sclose);
  if (!space || H5Sget_simple_extent_npoints(space.id()) != 1)
    throw FormatError("attribute is not a single value", where, "a scalar attribute");
  return {std::move(attr), std::move(type)};
}

Handle replace_attribute(const Handle& location, const std::string& name, hid_t type) {
  const std::string where = where_of(location, name);
  if (has_attribute(location, name) && H5Adelete(location.id(), name.c_str()) < 0)
    fail_io("cannot replace the attribute", where);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  if (!space) fail_io("cannot create a dataspace", where);
  Handle attr(H5Acreate2(location.id(), name.c_str(), type, space.id(), H5P_DEFAULT,
                         H5P_DEFAULT),
              H5Aclose);
  if (!attr) fail_io("cannot create the attribute", where);
  return attr;
}

herr_t collect_message(unsigned /*n*/, const H5E_error2_t* err, void* data) {
  auto* messages = static_cast<std::vector<std::string>*>(data);
  if (err && err->desc && *err->desc) {
    std::string m = err->desc;
    // A system error's text from HDF5 is "...: time = <ctime()>\n, filename = ...": one line.
    std::replace(m.begin(), m.end(), '\n', ' ');
    if (const auto at = m.find("error message = '"); at != std::string::npos)
      m = "system error: " + m.substr(at + 17, m.find('\'', at + 17) - at - 17);
    if (std::find(messages->begin(), messages->end(), m) == messages->end())
      messages->push_back(std::move(m));
  }
  return 0;
}

}  // namespace

Handle::~Handle() {
  if (id_ >= 0 && closer_) {
    ErrorSilencer quiet;
    closer_(id_);
    H5Eclear2(H5E_DEFAULT);
  }
}

Handle::Handle(Handle&& other) noexcept : id_(other.id_), closer_(other.closer_) {
  other.id_ = -1;
}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    Handle old(std::move(*this));
    id_ = other.id_;
    closer_ = other.closer_;
    other.id_ = -1;
  }
  return *this;
}

void Handle::close() {
  if (id_ < 0 || !closer_) return;
  ErrorSilencer quiet;
  const hid_t id = id_;
  id_ = -1;
  if (closer_(id) < 0) fail_io("HDF5 could not close an object (write error?)", "");
}

ErrorSilencer::ErrorSilencer() noexcept {
  saved_ = H5Eget_auto2(H5E_DEFAULT, &func_, &data_) >= 0;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

ErrorSilencer::~ErrorSilencer() {
  if (saved_) H5Eset_auto2(H5E_DEFAULT, func_, data_);
}

std::string error_stack_message() {
  hid_t stack = H5Eget_current_stack();
  if (stack < 0) return {};
  std::vector<std::string> messages;
  // Upward: the most specific message (the real cause) first, the API call's last.
  H5Ewalk2(stack, H5E_WALK_UPWARD, collect_message, &messages);
  H5Eclose_stack(stack);
  if (messages.size() > 3) messages.erase(messages.begin() + 2, messages.end() - 1);
  std::string out;
  for (const auto& m : messages) out += (out.empty() ? "" : "; ") + m;
  return out;
}

Handle create_file(const fs::path& path, const FileOptions& options) {
  ErrorSilencer quiet;
  Handle fapl = file_access_list();
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  if (!fcpl) fail_io("cannot create an HDF5 file creation property list", path.string());
  // The root group without times too (see write_array): reproducible files.
  if (H5Pset_obj_track_times(fcpl.id(), false) < 0)
    fail_io("cannot turn time tracking off", path.string());
  if (options.user_block > 0 &&
      H5Pset_userblock(fcpl.id(), static_cast<hsize_t>(options.user_block)) < 0)
    fail_io("invalid user block size " + std::to_string(options.user_block), path.string());
  Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.id(), fapl.id()), H5Fclose);
  if (!file) fail_io("cannot create the HDF5 file", path.string());
  return file;
}

namespace {

constexpr const char* kSealMagic = "loraft sealed hdf5 1\n";

// SHA-256 of the bytes of `in` from kSealBytes to the end, and how many there were.
std::string hash_after_seal(std::istream& in, std::uint64_t& count, const std::string& where) {
  in.seekg(static_cast<std::streamoff>(kSealBytes));
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  count = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    sha.update(buf.data(), got);
    count += got;
  }
  if (in.bad()) throw IoError("read error", where);
  return sha.hex();
}

}  // namespace

void seal_file(const fs::path& path) {
  const std::string where = path.string();
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  if (!f) throw IoError("cannot open the file to seal it", where, "a writable file");
  {
    // HDF5 puts its superblock right after the user block: its signature must be there.
    char sig[8] = {};
    f.seekg(static_cast<std::streamoff>(kSealBytes));
    f.read(sig, sizeof sig);
    if (!f || std::string(sig, sizeof sig) != "\x89HDF\r\n\x1a\n")
      throw FormatError("no HDF5 superblock after a " + std::to_string(kSealBytes) + "-byte user block",
                        where, "a file made with FileOptions::user_block = kSealBytes");
  }
  f.clear();
  std::uint64_t count = 0;
  const std::string sha = hash_after_seal(f, count, where);
  std::string record = std::string(kSealMagic) + "sha256 " + sha + "\nbytes " +
                       std::to_string(count) + "\n";
  record.resize(kSealBytes, '\0');
  f.clear();
  f.seekp(0);
  f.write(record.data(), static_cast<std::streamsize>(record.size()));
  f.flush();
  if (!f) throw IoError("cannot write the seal", where);
}

void check_seal(const fs::path& path) {
  const std::string where = path.string();
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw IoError("file not found", where, "an existing file");
    throw IoError("cannot open the file", where, "a readable file");
  }
  std::string record(kSealBytes, '\0');
  f.read(record.data(), static_cast<std::streamsize>(record.size()));
  const std::string magic = kSealMagic;
  if (!f || record.compare(0, magic.size(), magic) != 0)
    throw FormatError("not a sealed file", where, "a file written and sealed by loraft");
  // The record must be exactly what seal_file() writes, padding included, so that a
  // changed byte anywhere in the user block is caught as well.
  const std::size_t sha_at = magic.size() + 7;
  const auto bytes_at = record.find("\nbytes ", sha_at);
  std::int64_t expected_bytes = -1;
  if (record.compare(magic.size(), 7, "sha256 ") == 0 && bytes_at == sha_at + 64) {
    const std::string digits = record.substr(bytes_at + 7, record.find('\n', bytes_at + 7) - (bytes_at + 7));
    if (!digits.empty() && digits.size() < 19 &&
        digits.find_first_not_of("0123456789") == std::string::npos)
      expected_bytes = std::stoll(digits);
  }
  const std::string sha = record.substr(sha_at, 64);
  std::string rebuilt = magic + "sha256 " + sha + "\nbytes " + std::to_string(expected_bytes) + "\n";
  rebuilt.resize(kSealBytes, '\0');
  if (expected_bytes < 0 || rebuilt != record)
    throw FormatError("damaged seal record", where, "the record seal_file() writes");
  f.clear();
  std::uint64_t count = 0;
  const std::string got = hash_after_seal(f, count, where);
  if (static_cast<std::int64_t>(count) != expected_bytes)
    throw FormatError("truncated or extended: " + std::to_string(count + kSealBytes) +
                          " bytes instead of " + std::to_string(expected_bytes + static_cast<std::int64_t>(kSealBytes)),
                      where, "the sealed size");
  if (got != sha) throw FormatError("checksum mismatch: the file was changed or damaged", where, "sha256 " + sha);
}

Handle open_file(const fs::path& path) {
  ErrorSilencer quiet;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IoError("file not found", path.string(), "an existing file");
  if (!fs::is_regular_file(path, ec))
    throw IoError("not a regular file", path.string(), "an HDF5 file");
  Handle fapl = file_access_list();
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.id()), H5Fclose);
  if (!file) fail_format("not a readable HDF5 file", path.string(), "an intact HDF5 file");
  return file;
}

void write_array(const Handle& location, const std::string& name, const std::int32_t* data,
                 std::size_t size, const ArrayOptions& options) {
  write_array_impl(location, name, data, size, options);
}

void write_array(const Handle& location, const std::string& name, const std::int64_t* data,
                 std::size_t size, const ArrayOptions& options) {
  write_array_impl(location, name, data, size, options);
}

std::vector<std::int32_t> read_int32_array(const Handle& location, const std::string& name) {
  return read_array_impl<std::int32_t>(location, name);
}

std::vector<std::int64_t> read_int64_array(const Handle& location, const std::string& name) {
  return read_array_impl<std::int64_t>(location, name);
}

bool has_link(const Handle& location, const std::string& name) {
  ErrorSilencer quiet;
  const std::string where = where_of(location, name);
  htri_t r = H5Lexists(location.id(), name.c_str(), H5P_DEFAULT);
  if (r < 0) fail_format("cannot look up the link", where);
  return r > 0;
}

std::size_t array_size(const Handle& location, const std::string& name) {
  ErrorSilencer quiet;
  const std::string where = where_of(location, name);
  Handle dataset = open_dataset(location, name, where);
  Handle space(H5Dget_space(dataset.id()), H5Sclose);
  if (!space || H5Sget_simple_extent_ndims(space.id()) != 1)
    fail_format("dataset is not one-dimensional", where, "a 1-D array");
  hsize_t dims[1] = {0};
  if (H5Sget_simple_extent_dims(space.id(), dims, nullptr) < 0)
    fail_format("cannot read the dataset size", where);
  return static_cast<std::size_t>(dims[0]);
}

void write_attribute(const Handle& location, const std::string& name, const std::string& value) {
  ErrorSilencer quiet;
  const std::string where = where_of(location, name);
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!type) fail_io("cannot create a string type", where);
  // HDF5 has no zero-length fixed strings: an empty value is stored as one NUL byte.
  const std::size_t size = std::max<std::size_t>(1, value.size());
  if (H5Tset_size(type.id(), size) < 0 || H5Tset_strpad(type.id(), H5T_STR_NULLPAD) < 0 ||
      H5Tset_cset(type.id(), H5T_CSET_UTF8) < 0)
    fail_io("cannot set up a string type", where);
  Handle attr = replace_attribute(location, name, type.id());
  std::string buffer = value;
  buffer.resize(size, '\0');
  if (H5Awrite(attr.id(), type.id(), buffer.data()) < 0)
    fail_io("cannot write the attribute", where);
}

void write_attribute(const Handle& location, const std::string& name, std::int64_t value) {
  ErrorSilencer quiet;
  const std::string where = where_of(location, name);
  Handle attr = replace_attribute(location, name, H5T_STD_I64LE);
  if (H5Awrite(attr.id(), H5T_NATIVE_INT64, &value) < 0)
    fail_io("cannot write the attribute", where);
}

bool has_attribute(const Handle& location, const std::string& name) {
  ErrorSilencer quiet;
  const std::string where = where_of(location, name);
  htri_t r = H5Aexists(location.id(), name.c_str());
  if (r < 0) fail_format("cannot look up the attribute", where);
  return r > 0;
}

std::string read_string_attribute(const Handle& location, const std::string& name) {
  ErrorSilencer quiet;
  const std::string where = where_of(location, name);
  auto [attr, type] = open_scalar_attribute(location, name, H5T_STRING, "a string");
  const htri_t variable = H5Tis_variable_str(type.id());
  if (variable < 0) fail_format("cannot inspect the string type", where);
  if (variable > 0) {
    // Written by other tools (h5py writes variable-length strings by default).
    Handle memory(H5Tcopy(H5T_C_S1), H5Tclose);
    if (!memory || H5Tset_size(memory.id(), H5T_VARIABLE) < 0)
      fail_format("cannot set up a string type", where);
    char* p = nullptr;
    if (H5Aread(attr.id(), memory.id(), &p) < 0) fail_format("cannot read the attribute", where);
    std::string out = p ? std::string(p) : std::string();
    H5free_memory(p);
    return out;
  }
  const std::size_t size = H5Tget_size(type.id());
  if (size == 0) fail_format("string attribute has no size", where);
  std::string out(size, '\0');
  if (H5Aread(attr.id(), type.id(), out.data()) < 0)
    fail_format("cannot read the attribute", where);
  // NUL padding (or a NUL terminator) ends the value.
  out.resize(std::min(out.size(), out.find('\0')));
  return out;
}

std::int64_t read_int_attribute(const Handle& location, const std::string& name) {
  ErrorSilencer quiet;
  const std::string where = where_of(location, name);
  const auto [attr, type] = open_scalar_attribute(location, name, H5T_INTEGER, "an integer");
  std::int64_t value = 0;
  if (H5Aread(attr.id(), H5T_NATIVE_INT64, &value) < 0)
    fail_format("cannot read the attribute", where);
  return value;
}

std::string file_name(const Handle& location) {
  ErrorSilencer quiet;
  ssize_t n = H5Fget_name(location.id(), nullptr, 0);
  if (n <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return "(HDF5 object)";
  }
  std::string name(static_cast<std::size_t>(n) + 1, '\0');
  H5Fget_name(location.id(), name.data(), name.size());
  name.resize(static_cast<std::size_t>(n));
  return name;
}

}  // namespace loraft::io::hdf5
