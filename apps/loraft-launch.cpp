// loraft-launch: starts --nproc ranks of the program given after `--`, each with the
// environment torchrun gives its workers (WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT); forwards SIGINT, SIGTERM and SIGHUP to them; when one rank
// fails, stops the others and exits with that rank's status.
//
// Each rank leads its own process group, as torchrun's workers do: Ctrl-C in a terminal then
// reaches the ranks once (forwarded by the launcher) instead of twice, and stopping a rank also
// stops the processes it started. The price: a rank is a background job of the terminal, so
// its stdin must not be the terminal (a read stops it).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/app.h"
#include "loraft/core/error.h"
#include "loraft/core/strings.h"

extern char** environ;

namespace {

constexpr const char* kProgram = "loraft-launch";

struct Flags {
  int nproc = 1;
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int grace_seconds = 10;
  void declare(loraft::app::Options& o) {
    o.optional("nproc", nproc, "ranks to start on this node (LOCAL_WORLD_SIZE)", 1, 1024);
    o.optional("nnodes", nnodes, "nodes taking part, each running one loraft-launch", 1, 1024);
    o.optional("node-rank", node_rank, "this node's index, 0 to --nnodes - 1", 0, 1023);
    o.optional("master-addr", master_addr, "address of rank 0's node (MASTER_ADDR)");
    o.optional("master-port", master_port, "port rank 0 listens on (MASTER_PORT)", 1, 65535);
    o.optional("grace-seconds", grace_seconds,
               "after a failure or a signal: seconds the ranks get to end before SIGKILL", 0, 3600);
  }
};

/// One started rank.
struct Rank {
  int rank = 0;          ///< global rank (RANK)
  pid_t pid = 0;         ///< also its process group id: it leads its own group
  bool running = true;   ///< false once reaped
};

/// How the first rank that failed ended.
struct Failure {
  int rank = 0;
  pid_t pid = 0;
  int status = 0;  ///< as waitpid() reports it
};

// Sends `sig` to the process group of every rank not yet reaped. Reaped ranks are skipped:
// their group id may belong to another process by now.
void signal_running(const std::vector<Rank>& ranks, int sig) {
  for (const auto& r : ranks)
    if (r.running) ::kill(-r.pid, sig);
}

bool any_running(const std::vector<Rank>& ranks) {
  return std::any_of(ranks.begin(), ranks.end(), [](const Rank& r) { return r.running; });
}

// The write end of the pipe that the signal handler writes each signal's number to. The
// handler may run on any thread: libraries linked in (OpenBLAS through LibTorch) start threads
// that do not block signals, so blocking them and waiting with sigwaitinfo() would lose some.
int signal_pipe = -1;

void on_signal(int sig) {
  const int saved = errno;  // the interrupted code may be about to read it
  const auto byte = static_cast<unsigned char>(sig);
  // Fails only on a full pipe, which already holds plenty of wake-ups.
  [[maybe_unused]] const ssize_t written = ::write(signal_pipe, &byte, 1);
  errno = saved;
}

// Waits until every rank has ended and returns the first failure, if any. `signals` is the
// read end of the signal pipe: SIGCHLD wakes the loop to reap, any other signal is forwarded.
// After a failure or a forwarded signal the ranks get `grace` to end; then the ones left are
// killed. `stop_now` starts with SIGTERM (a later rank could not be started).
std::optional<Failure> supervise(std::vector<Rank>& ranks, int signals, std::chrono::seconds grace,
                                 bool stop_now) {
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> deadline;  // set when the ranks are told to stop
  bool killed = false;
  std::optional<Failure> failure;
  auto stop = [&](int sig) {
    signal_running(ranks, sig);
    if (!deadline) deadline = Clock::now() + grace;
  };
  if (stop_now) stop(SIGTERM);
  for (;;) {
    // Reaps on every turn, not per SIGCHLD: several ended ranks may have raised one signal.
    int status = 0;
    for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
      auto it = std::find_if(ranks.begin(), ranks.end(), [pid](const Rank& r) { return r.pid == pid; });
      if (it == ranks.end()) continue;
      it->running = false;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!ok && !failure) {
        failure = Failure{it->rank, pid, status};
        stop(SIGTERM);
      }
    }
    if (!any_running(ranks)) return failure;
    int timeout_ms = -1;  // no limit until the ranks are told to stop
    if (deadline && !killed) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now()).count();
      if (left <= 0) {
        signal_running(ranks, SIGKILL);
        killed = true;
      } else {
        timeout_ms = static_cast<int>(left);
      }
    }
    pollfd readable{signals, POLLIN, 0};
    ::poll(&readable, 1, timeout_ms);  // EINTR: the handler ran on this thread; its byte is read below
    unsigned char received[64];
    for (ssize_t n; (n = ::read(signals, received, sizeof received)) > 0;)
      for (ssize_t i = 0; i < n; ++i)
        // A signal from outside is a request to stop: the ranks get it, then the grace period.
        if (received[i] != SIGCHLD) stop(received[i]);
  }
}

// The launcher's environment without the variables it sets per rank: a value left by an
// outer launcher must not reach the ranks twice.
std::vector<std::string> inherited_environment() {
  static const char* const ours[] = {"WORLD_SIZE=", "RANK=", "LOCAL_RANK=", "LOCAL_WORLD_SIZE=",
                                     "MASTER_ADDR=", "MASTER_PORT="};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::none_of(std::begin(ours), std::end(ours), [e](const char* p) { return loraft::starts_with(*e, p); }))
      env.emplace_back(*e);
  return env;
}

// Sends `sig` to on_signal(), unless the launcher was told to ignore it (nohup, a background
// job's SIGINT): then it stays ignored, for the ranks too.
void catch_signal(int sig, bool even_if_ignored) {
  struct sigaction action {};
  ::sigaction(sig, nullptr, &action);
  if (action.sa_handler == SIG_IGN && !even_if_ignored) return;
  action = {};
  action.sa_handler = on_signal;
  action.sa_flags = SA_RESTART | (sig == SIGCHLD ? SA_NOCLDSTOP : 0);
  sigemptyset(&action.sa_mask);
  ::sigaction(sig, &action, nullptr);
}

int launch(const Flags& f, char* const* command) {
  if (f.node_rank >= f.nnodes)
    throw loraft::ConfigError("--node-rank " + std::to_string(f.node_rank) + " out of range", "command line",
                              "0 to " + std::to_string(f.nnodes - 1) + " for --nnodes " + std::to_string(f.nnodes));
  if (f.master_addr.empty()) throw loraft::ConfigError("empty --master-addr", "command line", "a host name or address");

  // Close-on-exec: the ranks must not hold the pipe. Non-blocking: the handler never waits,
  // and the loop reads until it is empty.
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0)
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  signal_pipe = pipe_fds[1];
  // SIGCHLD even if inherited as ignored: that would reap the ranks behind waitpid()'s back.
  catch_signal(SIGCHLD, true);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) catch_signal(sig, false);

  // exec() resets the handlers to their defaults in the ranks (glibc's posix_spawn does so
  // already before it, so that no handler runs in the child).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);  // each rank leads a new group

  std::vector<std::string> shared = inherited_environment();
  shared.push_back("WORLD_SIZE=" + std::to_string(f.nproc * f.nnodes));
  shared.push_back("LOCAL_WORLD_SIZE=" + std::to_string(f.nproc));
  shared.push_back("MASTER_ADDR=" + f.master_addr);
  shared.push_back("MASTER_PORT=" + std::to_string(f.master_port));

  std::vector<Rank> ranks;
  const auto grace = std::chrono::seconds(f.grace_seconds);
  for (int local = 0; local < f.nproc; ++local) {
    const int rank = f.node_rank * f.nproc + local;
    std::vector<std::string> env = shared;
    env.push_back("RANK=" + std::to_string(rank));
    env.push_back("LOCAL_RANK=" + std::to_string(local));
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    // glibc's posix_spawnp reports a failed exec (not found, not executable) as its result.
    const int error = ::posix_spawnp(&pid, command[0], nullptr, &attr, command, envp.data());
    if (error != 0) {
      supervise(ranks, pipe_fds[0], grace, true);
      posix_spawnattr_destroy(&attr);
      throw loraft::IoError(std::string("cannot start it: ") + std::strerror(error), command[0],
                            "an executable file, or a command on PATH");
    }
    ranks.push_back(Rank{rank, pid, true});
  }
  posix_spawnattr_destroy(&attr);

  const auto failure = supervise(ranks, pipe_fds[0], grace, false);
  if (!failure) return 0;
  std::cerr << kProgram << ": error: rank " << failure->rank << " (pid " << failure->pid << ") ";
  int code;
  if (WIFEXITED(failure->status)) {
    code = WEXITSTATUS(failure->status);
    std::cerr << "exited with status " << code;
  } else {
    const int sig = WTERMSIG(failure->status);
    code = 128 + sig;  // as a shell reports a command killed by a signal
    std::cerr << "was killed by signal " << sig << " (" << ::strsignal(sig) << ")";
  }
  std::cerr << (ranks.size() > 1 ? "; stopped the other ranks\n" : "\n");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // Boost must see only the launcher's flags: the program's own arguments after `--` may look
  // like them (`-- loraft-train --help`).
  const int split = static_cast<int>(std::find_if(argv + 1, argv + argc,
                                                  [](const char* a) { return std::strcmp(a, "--") == 0; }) -
                                     argv);
  // Without `--`, a program name would reach Boost as a stray positional argument and read as
  // a puzzling error; say what is missing instead (unless the user asks for help).
  const bool help = std::any_of(argv + 1, argv + argc,
                                [](const char* a) { return !std::strcmp(a, "--help") || !std::strcmp(a, "-h"); });
  if (split == argc && !help)
    return loraft::app::guard(kProgram, []() -> int {
      throw loraft::ConfigError("no `--` before the program", "command line",
                                std::string(kProgram) + " [options] -- PROGRAM [ARGS...]");
    });
  return loraft::app::run<Flags>(
      split, argv, kProgram,
      "       loraft-launch [options] -- PROGRAM [ARGS...]\n"
      "Starts --nproc ranks of PROGRAM with the environment torchrun gives its workers (WORLD_SIZE,\n"
      "RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), forwards SIGINT, SIGTERM and\n"
      "SIGHUP to them, and when one fails stops the others and exits with its status (128 + the\n"
      "signal if it was killed).",
      [&](Flags& f) -> int {
        if (split + 1 >= argc)
          throw loraft::ConfigError("no program after `--`", "command line", "-- PROGRAM [ARGS...]");
        return launch(f, argv + split + 1);  // argv[argc] is the null that ends the command
      });
}
