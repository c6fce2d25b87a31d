#pragma once
// What every figure and table program of the paper shares: its flags (profile, folders,
// threads), loading the profile and running the program's body on a Study.

#include <filesystem>
#include <string>

#include "common/app.h"
#include "loraft/core/threads.h"
#include "loraft/paper/study.h"

namespace loraft::app {

/// The flags of a paper program, declared once.
struct PaperFlags {
  std::string profile = "mini";
  std::string root = ".";
  std::string out = "paper/build";
  std::string runs_dir;
  std::string cache_dir;
  std::string shard;
  int threads = -1;

  void declare(Options& o) {
    o.optional("profile", profile, "smoke, mini, full, or a profile file (paper/profiles/<name>.json)");
    o.optional("root", root, "project root: profiles, models and data are found from here");
    o.optional("out", out, "output folder: results/ (CSV, manifests) and figures/ (PDF, PNG)");
    o.optional("runs-dir", runs_dir, "run folders (default <out>/runs); finished runs are reused");
    o.optional("cache-dir", cache_dir, "token cache folder (default .cache/loraft/tokens or $LORAFT_CACHE_DIR/tokens)");
    o.optional("threads", threads, "CPU threads (-1: the profile's setting; 0: all cores)");
    o.optional("shard", shard, "i/n: train only the i-th of n disjoint parts of the runs and draw nothing "
                               "(n machines share a sweep; copy their runs folders together, then run without it)");
  }
};

/// The whole main() of a paper program: parse the flags, load the profile, set the threads,
/// run `body` on the program's Study and write its manifest.
inline int paper_main(int argc, char** argv, const std::string& program, const std::string& summary,
                      const std::function<void(paper::Study&)>& body) {
  return run<PaperFlags>(argc, argv, program, summary, [&](PaperFlags& f) {
    paper::PaperPaths paths;
    paths.root = f.root;
    paths.out = f.out;
    paths.runs = f.runs_dir;
    paths.cache = f.cache_dir;
    paths.trainer = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "loraft-train";
    auto profile = paper::Profile::load(f.profile, paths.root);
    if (f.threads >= 0) profile.threads = f.threads;  // the runs' threads as well
    configure_threads(profile.threads);
    const paper::Shard shard = f.shard.empty() ? paper::Shard{} : paper::Shard::parse(f.shard, "--shard");
    paper::Study study(program, std::move(profile), paths, shard);
    body(study);
    study.finish();
    return 0;
  });
}

}  // namespace loraft::app
