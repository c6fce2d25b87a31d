#include <gtest/gtest.h>

#include <cmath>

#include "loraft/analysis/spectrum.h"
#include "loraft/analysis/stats.h"
#include "loraft/core/error.h"

namespace loraft::analysis {
namespace {

// Q1 * diag(values) * Q2^T with random orthogonal Q1, Q2: singular values known by construction.
Matrix with_singular_values(const std::vector<double>& values, int rows, int cols) {
  std::srand(7);
  Eigen::MatrixXd a = Eigen::MatrixXd::Random(rows, rows), b = Eigen::MatrixXd::Random(cols, cols);
  Eigen::MatrixXd q1 = Eigen::HouseholderQR<Eigen::MatrixXd>(a).householderQ();
  Eigen::MatrixXd q2 = Eigen::HouseholderQR<Eigen::MatrixXd>(b).householderQ();
  Eigen::MatrixXd d = Eigen::MatrixXd::Zero(rows, cols);
  for (std::size_t i = 0; i < values.size(); ++i) d(i, i) = values[i];
  return q1 * d * q2.transpose();
}

TEST(Spectrum, RecoversKnownSingularValuesAndRanks) {
  Matrix m = with_singular_values({3, 2, 1, 0, 0}, 6, 5);
  RankSummary r = rank_summary(m);
  ASSERT_EQ(r.singular_values.size(), 5u);
  EXPECT_NEAR(r.singular_values[0], 3, 1e-12);
  EXPECT_NEAR(r.singular_values[1], 2, 1e-12);
  EXPECT_NEAR(r.singular_values[2], 1, 1e-12);
  EXPECT_EQ(r.numerical_rank, 3);
  EXPECT_NEAR(r.frobenius_norm, std::sqrt(14.0), 1e-12);
  EXPECT_NEAR(r.spectral_norm, 3, 1e-12);
  EXPECT_NEAR(r.stable_rank, 14.0 / 9.0, 1e-12);
  // Energies 9, 4, 1 of 14: the top two hold 13/14 >= 90%.
  EXPECT_EQ(r.energy_rank_90, 2);
  // p = (1/2, 1/3, 1/6): exp(H) by hand.
  const double h = -(0.5 * std::log(0.5) + std::log(1.0 / 3) / 3 + std::log(1.0 / 6) / 6);
  EXPECT_NEAR(r.effective_rank, std::exp(h), 1e-9);
}

TEST(Spectrum, IdentityAndRankOneExtremes) {
  RankSummary id = rank_summary(Matrix::Identity(8, 8));
  EXPECT_NEAR(id.effective_rank, 8, 1e-9);
  EXPECT_NEAR(id.stable_rank, 8, 1e-9);
  EXPECT_EQ(id.numerical_rank, 8);
  Eigen::VectorXd u = Eigen::VectorXd::LinSpaced(7, 1, 7), v = Eigen::VectorXd::LinSpaced(4, -2, 1);
  RankSummary one = rank_summary(u * v.transpose());
  EXPECT_NEAR(one.effective_rank, 1, 1e-6);
  EXPECT_NEAR(one.stable_rank, 1, 1e-9);
  EXPECT_EQ(one.numerical_rank, 1);
  EXPECT_EQ(one.energy_rank_90, 1);
  RankSummary zero = rank_summary(Matrix::Zero(3, 3));
  EXPECT_EQ(zero.effective_rank, 0);
  EXPECT_EQ(zero.numerical_rank, 0);
}

TEST(Spectrum, EnergyCapturedIsEckartYoung) {
  std::vector<double> s{3, 2, 1};
  EXPECT_DOUBLE_EQ(energy_captured(s, 0), 0.0);
  EXPECT_DOUBLE_EQ(energy_captured(s, 1), 9.0 / 14);
  EXPECT_DOUBLE_EQ(energy_captured(s, 3), 1.0);
  EXPECT_THROW(rank_summary_from_values({1.0, -1.0}), ConfigError);
}

TEST(Stats, TIntervalByHand) {
  SeedSummary s = t_interval({1, 2, 3});
  EXPECT_EQ(s.n, 3);
  EXPECT_DOUBLE_EQ(s.mean, 2);
  EXPECT_DOUBLE_EQ(s.stddev, 1);
  EXPECT_NEAR(s.ci_low, 2 - 4.303 / std::sqrt(3.0), 1e-12);
  EXPECT_NEAR(s.ci_high, 2 + 4.303 / std::sqrt(3.0), 1e-12);
  SeedSummary one = t_interval({0.8});
  EXPECT_EQ(one.ci_low, 0.8);
  EXPECT_EQ(one.ci_high, 0.8);
  EXPECT_THROW(t_interval({}), ConfigError);
  // Large dof tends to the normal quantile.
  EXPECT_NEAR(student_t_975(1000), 1.962, 1e-3);
  EXPECT_NEAR(student_t_975(31), 2.040, 2e-3);
}

TEST(Stats, BootstrapIsSeededAndBracketsTheMean) {
  std::vector<double> v{0.81, 0.84, 0.79, 0.88, 0.83};
  SeedSummary a = bootstrap_interval(v, 2000, 42), b = bootstrap_interval(v, 2000, 42);
  EXPECT_EQ(a.ci_low, b.ci_low);
  EXPECT_EQ(a.ci_high, b.ci_high);
  EXPECT_LT(a.ci_low, a.mean);
  EXPECT_GT(a.ci_high, a.mean);
  EXPECT_GE(a.ci_low, 0.79);
  EXPECT_LE(a.ci_high, 0.88);
  // Constant data: a zero-width interval.
  SeedSummary c = bootstrap_interval({0.5, 0.5, 0.5}, 100, 1);
  EXPECT_DOUBLE_EQ(c.ci_low, 0.5);
  EXPECT_DOUBLE_EQ(c.ci_high, 0.5);
}

}  // namespace
}  // namespace loraft::analysis
