#pragma once
/// @file
/// @brief Fault injection for the kill tests (a process that dies at a chosen point of its work,
/// as a crash, the OOM killer or a power cut would leave it) and for the numerical-fault tests.

namespace loraft {

/// Kills this process with SIGKILL (no handler, no destructor, no flush) the N-th time it
/// reaches the point `name`, when the environment has `LORAFT_FAULT=name` (N = 1) or
/// `LORAFT_FAULT=name:N`; `LORAFT_FAULT=name:N:INT` (or `:TERM`) raises that signal instead,
/// as a Ctrl-C at that moment would. Otherwise does nothing (one comparison). The points:
/// - `step`: an optimizer step has been taken and recorded in metrics.jsonl;
/// - `checkpoint`: a checkpoint's tensors are written, its state and checksums are not;
/// - `evaluation`: an evaluation batch has been scored.
void fault_point(const char* name);

/// Whether a numerical fault is asked for here: true the N-th time the point `name` is reached
/// when `LORAFT_FAULT=name[:N]`, false otherwise (one comparison). The caller then injects it.
/// The points (train::Trainer):
/// - `nan-loss`: a training batch's loss becomes NaN;
/// - `nan-gradient`: the gradient of the optimizer's last parameter gets a NaN before the update.
bool fault_here(const char* name);

}  // namespace loraft
