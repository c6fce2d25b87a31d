#!/usr/bin/env bash
# The test suite of `make test` built with AddressSanitizer and UndefinedBehaviorSanitizer
# (`make test-asan`; docs/reliability.md, "Sanitizers"): the library, the programs and the tests
# instrumented, in a build folder of their own, with the compiler of `make test` (g++). LibTorch,
# OpenBLAS and the other system libraries are not instrumented. No suppression is needed: with
# LibTorch 1.13 the suite runs clean, LeakSanitizer included.
#
#   scripts/test-asan.sh [--build-only] [CTEST ARGUMENT...]
#
# Environment: ASAN_BUILD_DIR (build-asan), JOBS (nproc), CTEST_EXCLUDE (labels left out:
# slow|cuda, and docs|lint|install, which run no code of loraft's under the sanitizers).
# Every report is fatal: a test with a sanitizer report fails. Reports go to the test's output
# (ctest --output-on-failure prints it). Exit status: 0 clean, 1 a test failed, 2 the build failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${ASAN_BUILD_DIR:-build-asan}"
[[ "$build" == /* ]] || build="$root/$build"
jobs="${JOBS:-$(nproc)}"
exclude="${CTEST_EXCLUDE:-slow|cuda|docs|lint|install}"
build_only=0
if [[ "${1:-}" == "--build-only" ]]; then build_only=1; shift; fi

# -O1 keeps the instrumented tests fast enough; -g1 gives the reports file:line. UBSan's vptr
# check stays on: loraft's own classes are all instrumented, LibTorch's are not checked. Warnings
# are not errors here: the sanitizers change what g++'s flow analysis sees (false
# -Wmaybe-uninitialized and -Wstringop-overflow in headers), and `make test` already holds the
# code to -Werror.
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DLORAFT_WERROR=OFF -DLORAFT_BUILD_BENCH=OFF ||
    { echo "test-asan: error: configuring $build failed" >&2; exit 2; }
fi
cmake --build "$build" -j "$jobs" || { echo "test-asan: error: build failed" >&2; exit 2; }
[[ $build_only == 0 ]] || exit 0

# detect_leaks: LeakSanitizer runs at each program's exit; halt_on_error / abort: a report fails
# the test; the child programs the tests start inherit these settings.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=0:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cd "$build"
ctest --output-on-failure -LE "$exclude" -j "$jobs" "$@" || exit 1
