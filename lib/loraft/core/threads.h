#pragma once
/// @file
/// @brief Thread counts for LibTorch and loraft's own parallel loops.

#include <cstddef>
#include <functional>

namespace loraft {

/// The thread count loraft uses when none is given: the `LORAFT_NUM_THREADS` environment
/// variable if it is a positive integer, else every hardware thread of the machine.
int default_num_threads();

/// Sets LibTorch's intra-op thread count (and loraft's own pool size) to `n`, or to
/// default_num_threads() when `n` <= 0, and OpenBLAS's thread count when LibTorch calls
/// OpenBLAS. Debian's LibTorch otherwise runs on one thread.
/// Returns the count in force afterwards.
int configure_threads(int n = 0);

/// Calls configure_threads() once per process unless the user already called it; the
/// model, trainer and batch tokenizer call this so that library users get all cores.
void ensure_threads_configured();

/// The thread count loraft's own parallel loops use (after configure_threads()).
int num_threads();

/// Splits [0, n) into contiguous chunks and runs `body(begin, end)` on up to `threads`
/// threads (num_threads() when <= 0). Exceptions thrown by `body` are rethrown here (the
/// first one, by chunk order) after every chunk finished.
void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& body,
                  int threads = 0);

}  // namespace loraft
