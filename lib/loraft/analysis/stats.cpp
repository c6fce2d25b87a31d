#include "loraft/analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "loraft/core/error.h"

namespace loraft::analysis {
namespace {

SeedSummary moments(const std::vector<double>& v) {
  SeedSummary s;
  s.n = static_cast<std::int64_t>(v.size());
  if (v.empty()) throw ConfigError("no values to summarise", "seed summary", "at least one run");
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  if (v.size() > 1) {
    double ss = 0.0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / static_cast<double>(v.size() - 1));
  }
  s.ci_low = s.ci_high = s.mean;
  return s;
}

}  // namespace

double student_t_975(std::int64_t dof) {
  // t_{0.975} for 1..30 degrees of freedom (standard statistical tables).
  static const double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                 2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                 2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                 2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  if (dof < 1) throw ConfigError("t quantile needs at least one degree of freedom", "student_t");
  if (dof <= 30) return table[dof - 1];
  // Cornish-Fisher expansion around the normal quantile z = 1.959964.
  const double z = 1.959963984540054, d = static_cast<double>(dof);
  return z + (z * z * z + z) / (4 * d) + (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * d * d);
}

SeedSummary t_interval(const std::vector<double>& values) {
  SeedSummary s = moments(values);
  if (s.n >= 2) {
    const double half = student_t_975(s.n - 1) * s.stddev / std::sqrt(static_cast<double>(s.n));
    s.ci_low = s.mean - half;
    s.ci_high = s.mean + half;
  }
  return s;
}

SeedSummary bootstrap_interval(const std::vector<double>& values, std::int64_t resamples,
                               std::uint64_t seed) {
  SeedSummary s = moments(values);
  if (s.n < 2) return s;
  if (resamples < 1) throw ConfigError("bootstrap needs at least one resample", "bootstrap");
  std::mt19937_64 rng(seed);
  const std::uint64_t n = values.size();
  // Unbiased index draws by rejection (std::uniform_int_distribution is not portable across
  // standard libraries, and intervals must reproduce everywhere).
  const std::uint64_t limit = std::mt19937_64::max() - std::mt19937_64::max() % n;
  std::vector<double> means(static_cast<std::size_t>(resamples));
  for (auto& m : means) {
    double sum = 0.0;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint64_t r;
      do r = rng(); while (r >= limit);
      sum += values[r % n];
    }
    m = sum / static_cast<double>(n);
  }
  std::sort(means.begin(), means.end());
  auto at = [&](double q) {
    double pos = q * static_cast<double>(means.size() - 1);
    std::size_t lo = static_cast<std::size_t>(std::floor(pos));
    std::size_t hi = std::min(lo + 1, means.size() - 1);
    return means[lo] + (pos - static_cast<double>(lo)) * (means[hi] - means[lo]);
  };
  s.ci_low = at(0.025);
  s.ci_high = at(0.975);
  return s;
}

}  // namespace loraft::analysis
