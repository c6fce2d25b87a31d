#pragma once
/// @file
/// @brief What the process and the machine report about themselves, and the devices it can use.

#include <string>
#include <vector>

#include <c10/core/Device.h>

namespace loraft {

/// Peak resident memory of this process in MiB (Linux VmHWM), 0 where unknown.
double peak_rss_mib();

/// Makes glibc's malloc keep the memory a process frees for its next allocations. LibTorch
/// allocates CPU tensors with malloc; glibc serves blocks above its mmap threshold (which
/// grows to at most 32 MiB) with their own mmap and unmaps them when freed, and returns the
/// free top of its heaps to the system, so a training step that frees and allocates the same
/// large activations every step pays a page fault for each 4 KiB page of them every step.
/// With mmap off for allocations (`M_MMAP_MAX` 0) and trimming off (`M_TRIM_THRESHOLD` -1,
/// mallopt(3)), each step reuses the pages of the last: in four pairs of runs the full
/// DistilBERT step took 0.69-0.86x the time and the eval forward 0.57-0.79x, with peak RSS
/// within 2 % (docs/performance.md, "Page faults"). configure_threads() calls it once per process unless
/// `LORAFT_KEEP_FREED_MEMORY=0`. Returns false where malloc is not glibc's (or a sanitizer's).
bool keep_freed_memory();

/// The machine this process runs on, as provenance records it (Linux /proc; "" where unknown).
struct MachineInfo {
  std::string hostname;  ///< gethostname()
  std::string cpu;       ///< /proc/cpuinfo "model name"
  unsigned cores = 0;    ///< hardware threads
  std::string memory;    ///< /proc/meminfo "MemTotal" ("24576000 kB")
};

/// This machine's MachineInfo.
MachineInfo machine_info();

/// The first line `command` (run by /bin/sh, stderr discarded) prints, without its line end;
/// "" if it cannot start or exits non-zero. For provenance (`git describe`), never for control.
std::string first_output_line(const std::string& command);

/// What a child program did (run_program).
struct ProgramResult {
  int status = 0;      ///< its exit code, or 128 + the number of the signal that ended it
  std::string output;  ///< everything it printed on stdout
};

/// This process's environment ("NAME=value" entries) with each entry of `overrides` replacing the
/// variable of its name, or added where there is none: the environment of a child program.
std::vector<std::string> environment_with(const std::vector<std::string>& overrides);

/// Runs the program `argv[0]` (a path) with arguments `argv[1..]` as a child process and waits
/// for it: stdin and stderr are this process's, stdout is captured. `env` ("NAME=value")
/// entries are set in its environment on top of this process's (environment_with). IoError if it cannot start.
ProgramResult run_program(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});

/// The device `name` names ("cpu", "cuda", "cuda:1"); ConfigError otherwise.
c10::Device parse_device(const std::string& name);

/// parse_device(name), and ConfigError unless this process can use that device (a CUDA
/// device needs a CUDA build of LibTorch and a visible GPU). Checked where work starts, not in
/// a configuration's validate(): a run recorded on a GPU can still be read, reused and plotted
/// on a CPU.
c10::Device available_device(const std::string& name);

}  // namespace loraft
