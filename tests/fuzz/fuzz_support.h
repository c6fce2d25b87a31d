#pragma once
/// @file
/// @brief What every libFuzzer target of tests/fuzz shares: the per-process scratch folder the
/// inputs are written into, the project's fixtures, and the rule that decides what counts as a
/// finding.
///
/// The rule: a parser of outside input may refuse any input, but only with a loraft::Error
/// (IoError, FormatError, ConfigError), the one-line error the programs print. Any other
/// exception (a std::out_of_range from std::stoi, a nlohmann::json::type_error, std::bad_alloc
/// ...) is a finding, and so is a crash, a sanitizer report, a hang (-timeout) or a leak.
/// guarded() aborts on the former, so that libFuzzer keeps the input like any crash.

#include <cxxabi.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <typeinfo>

#include "loraft/core/error.h"
#include "loraft/core/log.h"

namespace loraft::fuzz {

/// The project's source folder (fixtures, samples, profiles).
inline std::filesystem::path source_dir() { return LORAFT_SOURCE_DIR; }

/// A folder of this process under $TMPDIR (or /tmp), created on first use and removed at
/// exit; every input is written under it, and reused from one input to the next.
inline const std::filesystem::path& scratch_dir() {
  struct Scratch {
    std::filesystem::path path;
    Scratch() {
      const char* tmp = std::getenv("TMPDIR");
      path = std::filesystem::path(tmp && *tmp ? tmp : "/tmp") /
             ("loraft-fuzz-" + std::to_string(::getpid()));
      std::filesystem::remove_all(path);
      std::filesystem::create_directories(path);
    }
    ~Scratch() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Scratch scratch;
  return scratch.path;
}

/// Writes `bytes` to `path`, replacing what was there (parents created); aborts if it cannot,
/// since then no parser ran.
inline void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

/// Writes the input to scratch_dir()/`name` and returns that path.
inline std::filesystem::path input_file(const std::string& name, const std::uint8_t* data, std::size_t size) {
  const auto path = scratch_dir() / name;
  write_file(path, std::string_view(reinterpret_cast<const char*>(data), size));
  return path;
}

/// An invariant the parser promises about what it accepted; aborts naming it when broken.
inline void check(bool holds, const char* invariant) {
  if (!holds) {
    std::fprintf(stderr, "fuzz: broken invariant: %s\n", invariant);
    std::abort();
  }
}

/// Runs `step`, which must succeed on what a parser accepted: a loraft::Error from it is a
/// broken invariant (e.g. Dataset::validate() on a reader's result), so it aborts naming it.
template <class Step>
void check_no_error(Step&& step, const char* invariant) {
  try {
    step();
  } catch (const Error& e) {
    std::fprintf(stderr, "fuzz: broken invariant: %s: %.300s\n", invariant, e.what());
    std::abort();
  }
}

/// Quiets loraft's log (warnings about damaged files would be printed for most inputs).
/// Call from LLVMFuzzerInitialize.
inline void quiet() { set_log_level(LogLevel::error); }

/// Runs `parse`: returns normally when it succeeds or throws a loraft::Error (an accepted
/// refusal); aborts, naming the exception's type and message, when it throws anything else.
template <class Parse>
int guarded(Parse&& parse) {
  try {
    parse();
  } catch (const Error&) {
    // The clear refusal every parser must give for bad input.
  } catch (const std::exception& e) {
    int status = 0;
    char* type = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
    std::fprintf(stderr, "fuzz: not a loraft::Error: %s: %.300s\n", status == 0 ? type : typeid(e).name(), e.what());
    std::free(type);
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "fuzz: a thrown value that is not a std::exception\n");
    std::abort();
  }
  return 0;
}

}  // namespace loraft::fuzz
