#include "loraft/analysis/spectrum.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "loraft/core/error.h"

namespace loraft::analysis {

std::vector<double> singular_values(const Matrix& m) {
  if (m.size() == 0) return {};
  Eigen::BDCSVD<Eigen::MatrixXd> svd(m);
  const auto& s = svd.singularValues();
  std::vector<double> out(s.data(), s.data() + s.size());
  std::sort(out.begin(), out.end(), std::greater<>());
  return out;
}

std::int64_t energy_rank(const std::vector<double>& s, double fraction) {
  double total = 0.0;
  for (double v : s) total += v * v;
  if (total <= 0.0) return 0;
  double acc = 0.0;
  for (std::size_t k = 0; k < s.size(); ++k) {
    acc += s[k] * s[k];
    if (acc >= fraction * total) return static_cast<std::int64_t>(k + 1);
  }
  return static_cast<std::int64_t>(s.size());
}

double energy_captured(const std::vector<double>& s, std::int64_t k) {
  double total = 0.0, top = 0.0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    total += s[i] * s[i];
    if (static_cast<std::int64_t>(i) < k) top += s[i] * s[i];
  }
  return total > 0.0 ? top / total : 0.0;
}

RankSummary rank_summary_from_values(std::vector<double> s) {
  for (double v : s)
    if (!(v >= 0.0)) throw ConfigError("negative or NaN singular value", "rank_summary", "s >= 0");
  std::sort(s.begin(), s.end(), std::greater<>());
  RankSummary r;
  r.singular_values = s;
  const double sum = std::accumulate(s.begin(), s.end(), 0.0);
  double sq = 0.0;
  for (double v : s) sq += v * v;
  r.frobenius_norm = std::sqrt(sq);
  r.spectral_norm = s.empty() ? 0.0 : s.front();
  if (sum > 0.0) {
    double entropy = 0.0;
    for (double v : s)
      if (v > 0.0) entropy -= (v / sum) * std::log(v / sum);
    r.effective_rank = std::exp(entropy);
    r.stable_rank = sq / (r.spectral_norm * r.spectral_norm);
  }
  r.energy_rank_90 = energy_rank(s, 0.9);
  return r;
}

RankSummary rank_summary(const Matrix& m) {
  RankSummary r = rank_summary_from_values(singular_values(m));
  if (!r.singular_values.empty()) {
    const double tol = static_cast<double>(std::max(m.rows(), m.cols())) *
                       std::numeric_limits<double>::epsilon() * r.spectral_norm;
    r.numerical_rank = std::count_if(r.singular_values.begin(), r.singular_values.end(),
                                     [&](double v) { return v > tol; });
  }
  return r;
}

}  // namespace loraft::analysis
