#include "loraft/optim/adamw.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define LORAFT_FUSED_ADAMW 1  // the fused update's AVX2 + FMA kernel exists on x86-64 only
#else
#define LORAFT_FUSED_ADAMW 0
#endif

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include <ATen/record_function.h>

#include "loraft/core/error.h"
#include "loraft/core/threads.h"

namespace loraft::optim {
namespace {

// The float32 scalars of one parameter's step, converted from double as LibTorch converts a
// Scalar argument for a float tensor.
struct StepScalars {
  float decay, b1, one_minus_b1, b2, one_minus_b2, bias_correction2_sqrt, eps, neg_step_size;
};

// One parameter's slice of the fused update.
struct Segment {
  float* p;
  const float* g;
  float* m;
  float* v;
  std::int64_t n;
  StepScalars s;
};

#if LORAFT_FUSED_ADAMW
// Keeps the compiler from contracting the product in `x` with a later sum into an FMA, which
// LibTorch's kernels do not do there (the build's default -ffp-contract=fast would).
#define LORAFT_ROUNDED(x) __asm__("" : "+x"(x))

// Elements [begin, end) of `seg`, 8 at a time (the last block masked): the per-operation
// path's arithmetic, in its order, on each element.
__attribute__((target("avx2,fma"))) void fused_update(const Segment& seg, std::int64_t begin, std::int64_t end) {
  const StepScalars& s = seg.s;
  const __m256 decay = _mm256_set1_ps(s.decay), b1 = _mm256_set1_ps(s.b1), c1 = _mm256_set1_ps(s.one_minus_b1),
               b2 = _mm256_set1_ps(s.b2), c2 = _mm256_set1_ps(s.one_minus_b2),
               bc2 = _mm256_set1_ps(s.bias_correction2_sqrt), eps = _mm256_set1_ps(s.eps),
               neg_step = _mm256_set1_ps(s.neg_step_size);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (std::int64_t i = begin; i < end; i += 8) {
    const auto left = static_cast<int>(std::min<std::int64_t>(end - i, 8));
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), lanes);
    __m256 p = _mm256_maskload_ps(seg.p + i, mask), g = _mm256_maskload_ps(seg.g + i, mask),
           m = _mm256_maskload_ps(seg.m + i, mask), v = _mm256_maskload_ps(seg.v + i, mask);
    p = _mm256_mul_ps(p, decay);  // p.mul_(1 - lr * wd)
    LORAFT_ROUNDED(p);
    m = _mm256_mul_ps(m, b1);  // exp_avg.mul_(b1).add_(g, 1 - b1): add_ is one FMA
    LORAFT_ROUNDED(m);
    m = _mm256_fmadd_ps(g, c1, m);
    v = _mm256_mul_ps(v, b2);  // exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2): (c2 * g), then an FMA
    LORAFT_ROUNDED(v);
    __m256 c2g = _mm256_mul_ps(c2, g);
    LORAFT_ROUNDED(c2g);
    v = _mm256_fmadd_ps(c2g, g, v);
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v), bc2), eps);  // (sqrt(v) / bc2).add_(eps)
    __m256 step = _mm256_mul_ps(neg_step, m);  // p.addcdiv_(m, denom, -step_size)
    LORAFT_ROUNDED(step);
    p = _mm256_add_ps(p, _mm256_div_ps(step, denom));
    _mm256_maskstore_ps(seg.p + i, mask, p);
    _mm256_maskstore_ps(seg.m + i, mask, m);
    _mm256_maskstore_ps(seg.v + i, mask, v);
  }
}

#undef LORAFT_ROUNDED
#else
// Never called: cpu_has_avx2_fma() is false off x86-64.
void fused_update(const Segment&, std::int64_t, std::int64_t) {
  throw std::logic_error("fused AdamW update without AVX2");
}
#endif

bool cpu_has_avx2_fma() {
#if LORAFT_FUSED_ADAMW
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
#else
  return false;
#endif
}

bool fusable(const torch::Tensor& p, const torch::Tensor& g, const torch::Tensor& m, const torch::Tensor& v) {
  for (const torch::Tensor* t : {&p, &g, &m, &v})
    if (!t->device().is_cpu() || t->scalar_type() != torch::kFloat || !t->is_contiguous() || t->is_sparse() ||
        t->numel() != p.numel())
      return false;
  return true;
}

// Below this many elements in all, one thread does the fused update: starting threads would
// cost more than they save (LoRA's adapters and head, small models).
constexpr std::int64_t kParallelElements = 1 << 18;

// Runs the segments' updates, the elements split evenly over the threads.
void run_fused(const std::vector<Segment>& segments) {
  std::int64_t total = 0;
  for (const Segment& s : segments) total += s.n;
  const int threads = total >= kParallelElements ? num_threads() : 1;
  const std::int64_t per_thread = (total + threads - 1) / threads;
  parallel_for(
      static_cast<std::size_t>(threads),
      [&](std::size_t first, std::size_t last) {
        for (std::size_t t = first; t < last; ++t) {
          // This thread's elements [lo, hi) of the segments laid end to end.
          const std::int64_t lo = static_cast<std::int64_t>(t) * per_thread, hi = std::min(total, lo + per_thread);
          std::int64_t offset = 0;
          for (const Segment& s : segments) {
            const std::int64_t b = std::max(lo - offset, std::int64_t{0}), e = std::min(hi - offset, s.n);
            if (b < e) fused_update(s, b, e);
            offset += s.n;
          }
        }
      },
      threads);
}

}  // namespace

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options)
    : groups_(std::move(groups)), options_(options) {
  for (const auto& g : groups_) moments_.emplace_back(g.params.size());
}

void AdamW::step() {
  // The name torch.optim records for its AdamW step: profiles of both stacks count the same.
  RECORD_USER_SCOPE("Optimizer.step#AdamW.step");
  torch::NoGradGuard no_grad;
  const double b1 = options_.beta1, b2 = options_.beta2, eps = options_.eps;
  const bool fused = options_.fused && cpu_has_avx2_fma();
  std::vector<Segment> segments;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& group = groups_[gi];
    for (std::size_t pi = 0; pi < group.params.size(); ++pi) {
      torch::Tensor p = group.params[pi].tensor;
      torch::Tensor grad = p.grad();
      if (!grad.defined()) continue;
      Moments& m = moments_[gi][pi];
      if (!m.exp_avg.defined()) {
        m.exp_avg = torch::zeros_like(p, torch::MemoryFormat::Preserve);
        m.exp_avg_sq = torch::zeros_like(p, torch::MemoryFormat::Preserve);
      }
      m.step += 1;
      // Same operations, in the same order and with the same double-precision scalars, as
      // _single_tensor_adamw, so that the float32 results agree to the last bit.
      const double bias_correction1 = 1 - std::pow(b1, static_cast<double>(m.step));
      const double bias_correction2 = 1 - std::pow(b2, static_cast<double>(m.step));
      const double step_size = group.lr / bias_correction1;
      if (fused && fusable(p, grad, m.exp_avg, m.exp_avg_sq)) {
        // Written through raw pointers: bump the version counters as the in-place ops would.
        for (torch::Tensor* t : {&p, &m.exp_avg, &m.exp_avg_sq}) torch::autograd::impl::bump_version(*t);
        segments.push_back({p.data_ptr<float>(), grad.data_ptr<float>(), m.exp_avg.data_ptr<float>(),
                            m.exp_avg_sq.data_ptr<float>(), p.numel(),
                            {static_cast<float>(1 - group.lr * group.weight_decay), static_cast<float>(b1),
                             static_cast<float>(1 - b1), static_cast<float>(b2), static_cast<float>(1 - b2),
                             static_cast<float>(std::sqrt(bias_correction2)), static_cast<float>(eps),
                             static_cast<float>(-step_size)}});
        continue;
      }
      p.mul_(1 - group.lr * group.weight_decay);
      m.exp_avg.mul_(b1).add_(grad, 1 - b1);
      m.exp_avg_sq.mul_(b2).addcmul_(grad, grad, 1 - b2);
      torch::Tensor denom = (m.exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(eps);
      p.addcdiv_(m.exp_avg, denom, -step_size);
    }
  }
  if (!segments.empty()) run_fused(segments);
}

void AdamW::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params)
      if (p.tensor.grad().defined()) p.tensor.mutable_grad().reset();
}

std::vector<torch::Tensor> AdamW::parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& g : groups_)
    for (const auto& p : g.params) out.push_back(p.tensor);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi)
    for (std::size_t pi = 0; pi < groups_[gi].params.size(); ++pi) {
      const Moments& m = moments_[gi][pi];
      if (!m.exp_avg.defined()) continue;
      const std::string& name = groups_[gi].params[pi].name;
      out.emplace_back(name + ".exp_avg", m.exp_avg);
      out.emplace_back(name + ".exp_avg_sq", m.exp_avg_sq);
      out.emplace_back(name + ".step", torch::tensor(m.step, torch::kInt64));
    }
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
  for (std::size_t gi = 0; gi < groups_.size(); ++gi)
    for (std::size_t pi = 0; pi < groups_[gi].params.size(); ++pi) {
      const NamedParameter& p = groups_[gi].params[pi];
      auto step = by_name.find(p.name + ".step");
      if (step == by_name.end()) {  // never stepped when saved
        moments_[gi][pi] = Moments{};
        continue;
      }
      Moments m;
      m.step = step->second.item<std::int64_t>();
      for (auto [key, slot] : {std::pair{".exp_avg", &m.exp_avg}, {".exp_avg_sq", &m.exp_avg_sq}}) {
        auto it = by_name.find(p.name + key);
        if (it == by_name.end())
          throw FormatError("optimizer state lacks " + p.name + key, "optimizer state",
                            "exp_avg and exp_avg_sq for every stepped parameter");
        if (it->second.sizes() != p.tensor.sizes())
          throw FormatError("optimizer state " + p.name + key + " has the wrong shape",
                            "optimizer state", "the parameter's shape");
        *slot = it->second.to(p.tensor.options()).clone();
      }
      moments_[gi][pi] = std::move(m);
    }
}

}  // namespace loraft::optim
