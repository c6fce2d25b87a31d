#include "loraft/core/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "loraft/core/system.h"

namespace loraft {
namespace {

std::atomic<int> g_threads{0};
std::once_flag g_once;

}  // namespace

int default_num_threads() {
  if (const char* env = std::getenv("LORAFT_NUM_THREADS")) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v > 0) return static_cast<int>(v);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

namespace {

// openblas_get_parallel(): 0 sequential, 1 OpenBLAS's own threads, 2 OpenMP; -1 where LibTorch
// does not call OpenBLAS.
int openblas_parallel() {
  using GetParallel = int (*)();
  if (!dlsym(RTLD_DEFAULT, "openblas_set_num_threads")) return -1;
  auto* get_parallel = reinterpret_cast<GetParallel>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
  return get_parallel ? get_parallel() : 1;
}

}  // namespace

int configure_threads(int n) {
  if (n <= 0) n = default_num_threads();
  static const bool kept = [] {
    const char* keep = std::getenv("LORAFT_KEEP_FREED_MEMORY");
    return keep != nullptr && std::string(keep) == "0" ? false : keep_freed_memory();
  }();
  static_cast<void>(kept);
  // Where LibTorch calls OpenBLAS built with its own threads (Debian's libopenblas0-pthread,
  // the default), the cores go to OpenBLAS and LibTorch's own OpenMP pool keeps one thread.
  // With both pools at n threads, OpenMP's threads spin-wait while OpenBLAS's need the same
  // cores: on 2 cores a DistilBERT training step took 8.24 s against 6.48 s this way, and a
  // small model's fine-tuning ran 2.2x slower than on one thread (docs/architecture.md,
  // "Threads"). OpenBLAS built with OpenMP (libopenblas0-openmp) runs its products in
  // LibTorch's OpenMP pool, so both get n; so do a sequential OpenBLAS and other BLAS.
  using SetThreads = void (*)(int);
  const int parallel = openblas_parallel();
  at::set_num_threads(parallel == 1 ? 1 : n);
  if (parallel >= 0) reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))(n);
  g_threads = n;
  return n;
}

int blas_threads() {
  using GetThreads = int (*)();
  auto* get_openblas = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get_openblas ? get_openblas() : 0;
}

const char* blas_threading() {
  switch (openblas_parallel()) {
    case 0: return "OpenBLAS, sequential";
    case 1: return "OpenBLAS, own threads";
    case 2: return "OpenBLAS, OpenMP";
    default: return "not OpenBLAS";
  }
}

void ensure_threads_configured() {
  std::call_once(g_once, [] {
    if (g_threads.load() == 0) configure_threads(0);
  });
}

int num_threads() {
  int n = g_threads.load();
  return n > 0 ? n : default_num_threads();
}

void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& body,
                  int threads) {
  if (n == 0) return;
  std::size_t t = static_cast<std::size_t>(threads > 0 ? threads : num_threads());
  t = std::max<std::size_t>(1, std::min(t, n));
  if (t == 1) {
    body(0, n);
    return;
  }
  std::vector<std::exception_ptr> errors(t);
  std::vector<std::thread> pool;
  pool.reserve(t - 1);
  const std::size_t chunk = (n + t - 1) / t;
  auto run = [&](std::size_t i) {
    std::size_t b = i * chunk, e = std::min(n, b + chunk);
    if (b >= e) return;
    try {
      body(b, e);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  };
  for (std::size_t i = 1; i < t; ++i) pool.emplace_back(run, i);
  run(0);
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace loraft
