// Fuzz target: io::SafetensorsFile (lib/loraft/io/safetensors.cpp), the reader of every weights
// file (model.safetensors, adapter_model.safetensors, checkpoints): the 8-byte header length,
// the UTF-8 JSON header (parse_safetensors_header: dtypes, shapes, offsets, duplicate keys, the
// exact cover of the data section) and copying each tensor out of the mapping (tensor(),
// finite_tensor()). Seeds: every *.safetensors under tests/fixtures.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include "fuzz_support.h"
#include "loraft/io/safetensors.h"

using namespace loraft;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  at::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = fuzz::input_file("input.safetensors", data, size);
  return fuzz::guarded([&] {
    io::SafetensorsFile file(path);
    // What the reader promises of a file it accepts: tensors in data order, tiling the data
    // section, each with as many bytes as its shape and dtype need.
    std::uint64_t covered = 0;
    for (const auto& t : file.tensors()) {
      fuzz::check(t.begin == covered, "tensors tile the data section");
      fuzz::check(t.byte_size() == t.numel() * io::dtype_size(t.dtype), "byte span == shape * itemsize");
      covered = t.end;
      fuzz::check(file.bytes(t.name).size() == t.byte_size(), "bytes() spans the tensor");
      const at::Tensor x = file.tensor(t.name);
      fuzz::check(static_cast<std::uint64_t>(x.numel()) == t.numel(), "tensor() has the header's shape");
    }
    fuzz::check(covered + 8 <= size, "the data section lies inside the file");
    for (const auto& t : file.tensors()) file.finite_tensor(t.name);  // FormatError for NaN/inf
  });
}
