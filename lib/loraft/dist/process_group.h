#pragma once
/// @file
/// @brief Data-parallel ranks on torch's c10d: rendezvous through a store (TCPStore across
/// machines, FileStore on one), collectives through ProcessGroupGloo (CPU) or
/// ProcessGroupNCCL (CUDA builds), and errors that name the rank that went missing.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "loraft/core/error.h"

namespace loraft::dist {

/// A collective or the rendezvous failed: a rank died, hung past the timeout, or disagrees.
class DistError : public Error {
 public:
  using Error::Error;
};

/// Where this process stands among the ranks and how they meet, with torchrun's names.
struct DistConfig {
  std::int64_t world_size = 1;             ///< ranks in all (`WORLD_SIZE`)
  std::int64_t rank = 0;                   ///< this process (`RANK`), 0 <= rank < world_size
  std::int64_t local_rank = 0;             ///< this process on its machine (`LOCAL_RANK`): its GPU
  std::string master_addr = "127.0.0.1";   ///< host of rank 0's store (`MASTER_ADDR`)
  std::int64_t master_port = 29500;        ///< its port (`MASTER_PORT`)
  /// A file every rank can open (one machine or a shared file system): rendezvous through a
  /// c10d FileStore there instead of TCP (`LORAFT_STORE_FILE`).
  std::string store_file;
  std::string backend = "auto";            ///< gloo, nccl, or auto: nccl on CUDA where built, else gloo
  /// Seconds a rank waits for the others, at the rendezvous and in every collective, before it
  /// gives up naming the ranks it waited for (`LORAFT_DIST_TIMEOUT`).
  std::int64_t timeout_s = 300;

  /// More than one rank.
  bool enabled() const { return world_size > 1; }
  /// ConfigError for a world size below 1, a rank outside it, a port outside 1..65535, a
  /// timeout below 1 s or an unknown backend.
  void validate() const;
  /// `defaults` (e.g. from flags) with every field that torchrun's variables (WORLD_SIZE, RANK, LOCAL_RANK,
  /// MASTER_ADDR, MASTER_PORT) or loraft's (LORAFT_STORE_FILE, LORAFT_DIST_TIMEOUT,
  /// LORAFT_DIST_BACKEND) set; a variable that is not a number where one belongs is a
  /// ConfigError naming it.
  static DistConfig from_environment(DistConfig defaults);
};

/// Whether this build of LibTorch and loraft can run `backend` ("gloo", "nccl").
bool backend_available(const std::string& backend);

/// The ranks of one data-parallel job. Every collective is called by every rank in the same
/// order; one that fails (a rank died, or did not arrive within the timeout) is a DistError
/// naming the ranks that did not reach it.
class ProcessGroup {
 public:
  /// Meets the other ranks (rank 0 hosts the TCP store) and opens the backend's group.
  /// DistError when the port is taken, the master cannot be reached, or a rank does not
  /// arrive within the timeout; ConfigError for a backend this build lacks.
  ProcessGroup(const DistConfig& config, const torch::Device& device);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  /// This process's rank.
  std::int64_t rank() const noexcept;
  /// Number of ranks.
  std::int64_t size() const noexcept;
  /// Rank 0: the one that writes records, checkpoints and progress.
  bool lead() const noexcept { return rank() == 0; }
  /// The backend in use ("gloo" or "nccl").
  const std::string& backend() const noexcept;
  /// The device this rank computes on (given to the constructor).
  torch::Device device() const noexcept;

  /// Sums `tensor` across ranks, in place; `what` names the collective in errors.
  void all_reduce_sum(torch::Tensor& tensor, const std::string& what);
  /// Every rank passes its own `value`; returns if all equal rank 0's, else a DistError on
  /// every rank naming `what`, the ranks that differ and their values. Goes through the store,
  /// so it works before anything is trained (a different seed, model or data).
  void check_agreement(const std::string& what, const std::string& value);
  /// Waits until every rank reached this point.
  void barrier(const std::string& what);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Sums, across the ranks of `group`, the gradients of `params` (a parameter without a
/// gradient counts as zeros and gets one) together with `extra` numbers, in one flat buffer:
/// one collective per step however many tensors train.
void all_reduce_gradients(ProcessGroup& group, const std::vector<torch::Tensor>& params,
                          std::vector<double>& extra, const std::string& what);

}  // namespace loraft::dist
