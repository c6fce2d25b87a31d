#pragma once
/// @file
/// @brief Per-operator self times of a piece of LibTorch work, from the legacy autograd
/// profiler (the one LibTorch 1.13 has without Kineto), as the table that
/// tests/fixtures/tools/ref_profile.py prints for the Python stack.
///
/// Self time is an op's wall time minus that of the ops it called (RECORD_FUNCTION ranges,
/// per thread), as torch.autograd.profiler's `self_cpu_time_total`. Work inside OpenBLAS or
/// OpenMP threads counts to the op that waits for it. Both sides sort ops into the same
/// categories (op_category()), so that the two stacks can be compared per kind of work.

#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "loraft/core/timing.h"

namespace loraft::bench {

/// The scope AdamW::step records: every op under it counts as "optimizer".
inline constexpr const char* kOptimizerScope = "Optimizer.step#AdamW.step";

/// The category of an op from its own name: "gemm", "softmax", "layernorm", "gelu",
/// "dropout", "copies", "embedding", "loss", or "" (decided by an enclosing op, else
/// "elementwise/other"). ref_profile.py has the same table.
inline std::string op_category(const std::string& name) {
  static const std::map<std::string, std::string> kByName = {
      {"aten::addmm", "gemm"}, {"aten::mm", "gemm"}, {"aten::bmm", "gemm"},
      {"aten::baddbmm", "gemm"}, {"aten::_softmax", "softmax"},
      {"aten::_softmax_backward_data", "softmax"}, {"aten::native_layer_norm", "layernorm"},
      {"aten::native_layer_norm_backward", "layernorm"}, {"aten::gelu", "gelu"},
      {"aten::gelu_backward", "gelu"}, {"aten::dropout", "dropout"},
      {"aten::native_dropout", "dropout"}, {"aten::native_dropout_backward", "dropout"},
      {"aten::bernoulli_", "dropout"}, {"aten::copy_", "copies"}, {"aten::clone", "copies"},
      {"aten::contiguous", "copies"}, {"aten::cat", "copies"},
      {"aten::embedding", "embedding"}, {"aten::embedding_backward", "embedding"},
      {"aten::embedding_dense_backward", "embedding"}, {"aten::index_select", "embedding"},
      {"aten::_log_softmax", "loss"}, {"aten::_log_softmax_backward_data", "loss"},
      {"aten::nll_loss_forward", "loss"}, {"aten::nll_loss_backward", "loss"},
      {kOptimizerScope, "optimizer"}};
  auto it = kByName.find(name);
  return it == kByName.end() ? std::string() : it->second;
}

/// Whether an enclosing op's category is passed down to the ops it calls: only wrappers whose
/// every child is of their kind (dropout's mask and scaling, the optimizer's updates).
inline bool category_inherits(const std::string& category) {
  return category == "dropout" || category == "optimizer";
}

/// Aggregated times of one op name in one category.
struct OpStats {
  std::int64_t calls = 0;  ///< ranges recorded
  double self_us = 0;      ///< wall time minus children's, summed
  double total_us = 0;     ///< wall time, summed (nested calls of the same op count twice)
};

/// An op name and its category (op_category() or an inherited one): aten::mul_ in the
/// optimizer and aten::mul_ elsewhere are separate rows.
using OpKey = std::pair<std::string, std::string>;

/// The profile of `steps` calls of `work`, with the wall time they took.
struct OpProfile {
  std::map<OpKey, OpStats> ops;  ///< by op name and category
  double wall_s = 0;                   ///< wall time of the profiled calls
  int steps = 0;                       ///< calls of `work` profiled
};

/// Runs `work` `steps` times under the legacy CPU profiler and aggregates self times by op.
inline OpProfile profile_ops(const std::function<void()>& work, int steps) {
  using namespace torch::autograd::profiler;
  OpProfile out;
  out.steps = steps;
  enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU));
  const auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) work();
  out.wall_s = seconds_since(t0);
  const thread_event_lists lists = disableProfilerLegacy();
  struct Open {
    const LegacyEvent* push;
    double children_us;
    std::string category;  // own or inherited
  };
  for (const auto& events : lists) {
    std::vector<Open> stack;
    for (const LegacyEvent& e : events) {
      if (e.kind() == EventKind::PushRange) {
        std::string category = op_category(e.name());
        // An optimizer scope above wins; else the op's own kind; else an inheriting parent's.
        if (!stack.empty() && (stack.back().category == "optimizer" ||
                               (category.empty() && category_inherits(stack.back().category))))
          category = stack.back().category;
        stack.push_back({&e, 0.0, category});
      } else if (e.kind() == EventKind::PopRange && !stack.empty()) {
        // Ranges nest per thread; a pop closes the innermost open range with its handle.
        auto it = std::find_if(stack.rbegin(), stack.rend(),
                               [&](const Open& o) { return o.push->handle() == e.handle(); });
        if (it == stack.rend()) continue;
        const Open open = *it;
        stack.erase(std::next(it).base(), stack.end());
        const double total = open.push->cpuElapsedUs(e);
        OpStats& s = out.ops[{open.push->name(), open.category.empty() ? "elementwise/other" : open.category}];
        s.calls += 1;
        s.self_us += total - open.children_us;
        s.total_us += total;
        if (!stack.empty()) stack.back().children_us += total;
      }
    }
  }
  return out;
}

/// Prints the `top` ops by self time and the self time per category, per step, as Markdown.
inline void print_op_profile(const OpProfile& p, int top) {
  const double step_ms = p.wall_s * 1e3 / p.steps;
  std::vector<std::pair<OpKey, OpStats>> rows(p.ops.begin(), p.ops.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.self_us > b.second.self_us; });
  double self_sum = 0;
  std::map<std::string, double> by_category;
  for (const auto& [key, s] : rows) {
    self_sum += s.self_us;
    by_category[key.second] += s.self_us;
  }
  std::printf("profiled %d steps, %.1f ms per step (wall, profiler on); self times sum to %.1f ms per step\n\n",
              p.steps, step_ms, self_sum / 1e3 / p.steps);
  std::printf("| op | category | calls/step | self ms/step | self %% of step | total ms/step |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (std::size_t i = 0; i < rows.size() && static_cast<int>(i) < top; ++i) {
    const auto& [key, s] = rows[i];
    std::printf("| %s | %s | %.0f | %.1f | %.1f %% | %.1f |\n", key.first.c_str(), key.second.c_str(),
                static_cast<double>(s.calls) / p.steps, s.self_us / 1e3 / p.steps,
                100.0 * s.self_us / 1e3 / p.steps / step_ms, s.total_us / 1e3 / p.steps);
  }
  std::vector<std::pair<std::string, double>> cats(by_category.begin(), by_category.end());
  std::sort(cats.begin(), cats.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::printf("\n| category | self ms/step | %% of step |\n|---|---|---|\n");
  for (const auto& [name, us] : cats)
    std::printf("| %s | %.1f | %.1f %% |\n", name.c_str(), us / 1e3 / p.steps, 100.0 * us / 1e3 / p.steps / step_ms);
  const double outside = step_ms - self_sum / 1e3 / p.steps;
  std::printf("| (outside any op) | %.1f | %.1f %% |\n", outside, 100.0 * outside / step_ms);
}

}  // namespace loraft::bench
