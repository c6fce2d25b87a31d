#pragma once
// The flags of the programs that record runs (loraft-train, loraft-pretrain): where runs and
// token caches go, checkpoints, threads and resume, declared once.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>

#include "common/app.h"
#include "loraft/core/log.h"
#include "loraft/core/progress.h"
#include "loraft/core/system.h"
#include "loraft/data/token_cache.h"
#include "loraft/dist/process_group.h"
#include "loraft/train/trainer.h"

namespace loraft::app {

/// How a recorded run is carried out (nothing here changes its result).
struct RunFlags {
  std::string runs_dir = "runs";
  std::string cache_dir;
  std::int64_t checkpoint_every = 0;
  std::int64_t keep_checkpoints = 2;
  int threads = 0;
  bool no_resume = false;

  void declare(Options& o) {
    o.optional("runs-dir", runs_dir, "folder of run records");
    o.optional("cache-dir", cache_dir, "token cache folder (default .cache/loraft/tokens or $LORAFT_CACHE_DIR/tokens)");
    o.optional("checkpoint-every", checkpoint_every, "optimizer steps between checkpoints (0: epoch ends)",
               std::int64_t{0}, std::numeric_limits<std::int64_t>::max());
    o.optional("keep-checkpoints", keep_checkpoints, "newest checkpoints kept", std::int64_t{1},
               std::numeric_limits<std::int64_t>::max());
    o.optional("threads", threads, "CPU threads (0: all cores, or $LORAFT_NUM_THREADS)", 0, 1024);
    o.flag("no-resume", no_resume, "start over even if the run folder has a checkpoint");
  }

  /// The token cache folder these flags name.
  std::filesystem::path cache_folder() const {
    return cache_dir.empty() ? data::default_token_cache_folder() : std::filesystem::path(cache_dir);
  }

  /// The trainer's RunOptions these flags name.
  train::RunOptions run_options() const {
    train::RunOptions run;
    run.runs_dir = runs_dir;
    run.checkpoint_every = checkpoint_every;
    run.keep_checkpoints = keep_checkpoints;
    run.resume = !no_resume;
    return run;
  }
};

/// Data-parallel ranks: torchrun's environment variables (loraft-launch sets them) are the
/// defaults of these flags, so `loraft-launch --nproc 2 -- loraft-train ...` needs none of them.
struct DistFlags {
  dist::DistConfig dist = dist::DistConfig::from_environment(dist::DistConfig{});

  void declare(Options& o) {
    o.optional("world-size", dist.world_size, "data-parallel ranks in all (default $WORLD_SIZE, else 1)",
               std::int64_t{1}, std::int64_t{65536});
    o.optional("rank", dist.rank, "this process's rank (default $RANK)", std::int64_t{0}, std::int64_t{65535});
    o.optional("master-addr", dist.master_addr, "host of rank 0 (default $MASTER_ADDR)");
    o.optional("master-port", dist.master_port, "port of rank 0's rendezvous store (default $MASTER_PORT)",
               std::int64_t{1}, std::int64_t{65535});
    o.optional("dist-backend", dist.backend, "gloo, nccl or auto (nccl on CUDA where built)");
    o.optional("dist-timeout", dist.timeout_s, "seconds to wait for another rank before stopping with an error",
               std::int64_t{1}, std::int64_t{86400});
  }

  /// With more than one rank: meets the other ranks for a run on `device` (a CUDA rank uses
  /// GPU LOCAL_RANK modulo the GPUs there are), quiets the log and progress of all but rank 0, and puts the group into
  /// `run`. One rank: leaves `run` as it is.
  void connect(train::RunOptions& run, const std::string& device) const {
    dist.validate();
    if (!dist.enabled()) return;
    c10::Device d = available_device(device);
    // GPU LOCAL_RANK, wrapping round where a machine has fewer GPUs than ranks (Gloo shares a
    // GPU between ranks; NCCL refuses to, with its own error).
    if (d.is_cuda())
      d = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(
                                      dist.local_rank % std::max<std::int64_t>(1, torch::cuda::device_count())));
    run.group = std::make_shared<dist::ProcessGroup>(dist, d);
    if (!run.group->lead()) {
      run.progress = false;
      set_log_level(LogLevel::warning);
      disable_progress_bars();
    }
  }
};

}  // namespace loraft::app
