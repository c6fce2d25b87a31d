#pragma once
/// @file
/// @brief Summaries over seeds: mean, standard deviation and 95% confidence intervals.

#include <cstdint>
#include <vector>

namespace loraft::analysis {

/// Mean and spread of a metric over independent runs (seeds).
struct SeedSummary {
  std::int64_t n = 0;       ///< number of runs
  double mean = 0.0;        ///< sample mean
  double stddev = 0.0;      ///< sample standard deviation (n - 1 in the denominator); 0 if n < 2
  double ci_low = 0.0;      ///< lower end of the 95% interval (= mean if n < 2)
  double ci_high = 0.0;     ///< upper end of the 95% interval (= mean if n < 2)
};

/// Two-sided Student-t quantile t_{0.975, dof} (exact table for dof <= 30, normal
/// approximation with a Cornish-Fisher correction beyond).
double student_t_975(std::int64_t dof);

/// Mean, sample standard deviation and the Student-t 95% interval mean ± t·s/√n: the right
/// interval for the few seeds a fine-tuning study can afford (it widens honestly for n = 3).
SeedSummary t_interval(const std::vector<double>& values);

/// Percentile bootstrap 95% interval of the mean (`resamples` draws with replacement from a
/// seeded generator, so the interval is reproducible); stddev as in t_interval().
SeedSummary bootstrap_interval(const std::vector<double>& values, std::int64_t resamples,
                               std::uint64_t seed);

}  // namespace loraft::analysis
