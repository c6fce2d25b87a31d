#pragma once
/// @file
/// @brief Thread counts for LibTorch and loraft's own parallel loops.

#include <cstddef>
#include <functional>

namespace loraft {

/// The thread count loraft uses when none is given: the `LORAFT_NUM_THREADS` environment
/// variable if it is a positive integer, else every hardware thread of the machine.
int default_num_threads();

/// Uses `n` threads (default_num_threads() when `n` <= 0) for LibTorch's work and loraft's
/// own pool. Where LibTorch calls an OpenBLAS with threads of its own (Debian's LibTorch with
/// libopenblas0-pthread, which would otherwise run on one thread), the `n` threads go to
/// OpenBLAS and LibTorch's intra-op (OpenMP) pool keeps one: two pools spinning on the same
/// cores are much slower than either. Where OpenBLAS runs in OpenMP (libopenblas0-openmp) the
/// one pool serves both and gets `n`; elsewhere (MKL builds, CUDA) LibTorch's pool gets `n`.
/// The first call also makes malloc keep freed memory (keep_freed_memory(), core/system.h)
/// unless `LORAFT_KEEP_FREED_MEMORY=0`: a setting of the same process-wide kind, which every
/// program and the library's implicit setup pass through here. Returns `n`.
int configure_threads(int n = 0);

/// Calls configure_threads() once per process unless the user already called it; the
/// model, trainer and batch tokenizer call this so that library users get all cores.
void ensure_threads_configured();

/// OpenBLAS's thread count when LibTorch calls OpenBLAS, else 0.
int blas_threads();

/// How the BLAS under LibTorch runs its threads, as configure_threads() sees it: "OpenBLAS,
/// own threads", "OpenBLAS, OpenMP", "OpenBLAS, sequential" or "not OpenBLAS".
const char* blas_threading();

/// The thread count loraft's own parallel loops use (after configure_threads()).
int num_threads();

/// Splits [0, n) into contiguous chunks and runs `body(begin, end)` on up to `threads`
/// threads (num_threads() when <= 0). Exceptions thrown by `body` are rethrown here (the
/// first one, by chunk order) after every chunk finished.
void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& body,
                  int threads = 0);

}  // namespace loraft
