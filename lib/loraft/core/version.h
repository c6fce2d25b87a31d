#pragma once
/// @file
/// @brief The library's version, recorded in run records and manifests.

namespace loraft {

/// loraft's version ("MAJOR.MINOR.PATCH"), as the project() call of CMakeLists.txt sets it.
const char* version();

/// The LibTorch version loraft was compiled against ("1.13.1", "2.5.1", ...).
const char* torch_version();

}  // namespace loraft
