#pragma once
// The flags of the programs that record runs (loraft-train, loraft-pretrain): where runs and
// token caches go, checkpoints, threads and resume, declared once.

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/app.h"
#include "loraft/data/token_cache.h"
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

}  // namespace loraft::app
