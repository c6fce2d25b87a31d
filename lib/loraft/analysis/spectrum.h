#pragma once
/// @file
/// @brief Singular-value spectra and rank measures of weight updates (Eigen): how low-rank is
/// the change full fine-tuning makes, compared with LoRA's rank-r update B·A?

#include <cstdint>
#include <vector>

#include <Eigen/Dense>

namespace loraft::analysis {

/// Row-major float64 matrix, the layout of a LibTorch weight copied out with `.to(kDouble)`.
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Rank measures of one matrix, all computed from its singular values s_1 >= s_2 >= ... >= 0.
struct RankSummary {
  std::vector<double> singular_values;  ///< descending
  double frobenius_norm = 0.0;          ///< sqrt(sum s_i^2)
  double spectral_norm = 0.0;           ///< s_1
  /// exp of the Shannon entropy of p_i = s_i / sum s (Roy & Vetterli 2007); between 1 and
  /// the number of non-zero singular values; 0 for a zero matrix.
  double effective_rank = 0.0;
  /// ||M||_F^2 / ||M||_2^2 (Rudelson & Vershynin 2007); 0 for a zero matrix.
  double stable_rank = 0.0;
  /// Smallest k whose top-k singular values hold at least 90% of sum s_i^2.
  std::int64_t energy_rank_90 = 0;
  /// Number of singular values above max(rows, cols) * eps * s_1 (numerical rank, as numpy's
  /// matrix_rank).
  std::int64_t numerical_rank = 0;
};

/// Singular values of `m`, descending (Eigen's BDCSVD, values only).
std::vector<double> singular_values(const Matrix& m);

/// Every measure of RankSummary for `m`.
RankSummary rank_summary(const Matrix& m);

/// The measures of RankSummary from given singular values (any order; negatives rejected
/// with loraft::ConfigError).
RankSummary rank_summary_from_values(std::vector<double> singular_values);

/// Smallest k whose top-k singular values hold at least `fraction` of the energy sum s_i^2.
std::int64_t energy_rank(const std::vector<double>& descending_values, double fraction);

/// Fraction of the energy of `m` captured by its best rank-k approximation
/// (sum_{i<=k} s_i^2 / sum s_i^2; Eckart-Young): what a rank-k LoRA could at best express.
double energy_captured(const std::vector<double>& descending_values, std::int64_t k);

}  // namespace loraft::analysis
