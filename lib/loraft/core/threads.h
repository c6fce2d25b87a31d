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
/// own pool. Where LibTorch calls OpenBLAS for matrix products (Debian's LibTorch, which would
/// otherwise run on one thread), the `n` threads go to OpenBLAS and LibTorch's intra-op
/// (OpenMP) pool keeps one: two pools spinning on the same cores are much slower than either.
/// Elsewhere (MKL builds, CUDA) LibTorch's intra-op pool gets `n`.
/// Returns `n`.
int configure_threads(int n = 0);

/// Calls configure_threads() once per process unless the user already called it; the
/// model, trainer and batch tokenizer call this so that library users get all cores.
void ensure_threads_configured();

/// OpenBLAS's thread count when LibTorch calls OpenBLAS, else 0.
int blas_threads();

/// The thread count loraft's own parallel loops use (after configure_threads()).
int num_threads();

/// Splits [0, n) into contiguous chunks and runs `body(begin, end)` on up to `threads`
/// threads (num_threads() when <= 0). Exceptions thrown by `body` are rethrown here (the
/// first one, by chunk order) after every chunk finished.
void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& body,
                  int threads = 0);

}  // namespace loraft
