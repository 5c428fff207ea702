// tuning/linalg against the plain loops it replaces: the covariance summed row by row, and the inverse by
// Gauss-Jordan elimination with partial pivoting.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"
#include "tuning/linalg.h"
#include "tuning/random_spd.h"

using namespace rslicer;
using namespace rslicer::tuning;

namespace {

std::vector<double> reference_covariance(const Matrix& x, const std::vector<std::size_t>& rows,
                                         const std::vector<float>& mean) {
  const std::size_t d = x.cols;
  std::vector<double> cov(d * d, 0.0);
  for (auto r : rows)
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = 0; j < d; ++j)
        cov[i * d + j] += (static_cast<double>(x.row(r)[i]) - mean[i]) * (static_cast<double>(x.row(r)[j]) - mean[j]);
  for (double& c : cov) c /= std::max<double>(1.0, static_cast<double>(rows.size()) - 1.0);
  return cov;
}

std::vector<double> reference_inverse(std::vector<double> a, std::size_t d) {
  std::vector<double> inv(d * d, 0.0);
  for (std::size_t i = 0; i < d; ++i) inv[i * d + i] = 1.0;
  for (std::size_t c = 0; c < d; ++c) {
    std::size_t pivot = c;
    for (std::size_t r = c + 1; r < d; ++r)
      if (std::fabs(a[r * d + c]) > std::fabs(a[pivot * d + c])) pivot = r;
    for (std::size_t k = 0; k < d; ++k) {
      std::swap(a[c * d + k], a[pivot * d + k]);
      std::swap(inv[c * d + k], inv[pivot * d + k]);
    }
    const double p = a[c * d + c];
    for (std::size_t k = 0; k < d; ++k) {
      a[c * d + k] /= p;
      inv[c * d + k] /= p;
    }
    for (std::size_t r = 0; r < d; ++r) {
      if (r == c) continue;
      const double f = a[r * d + c];
      for (std::size_t k = 0; k < d; ++k) {
        a[r * d + k] -= f * a[c * d + k];
        inv[r * d + k] -= f * inv[c * d + k];
      }
    }
  }
  return inv;
}

}  // namespace

TEST(Linalg, CovarianceMatchesTheRowByRowSum) {
  std::mt19937_64 rng(3);
  std::normal_distribution<float> normal;
  Matrix x(40, 9);
  for (float& v : x.data) v = normal(rng);
  const std::vector<std::size_t> rows{0, 3, 4, 7, 11, 12, 20, 21, 30, 39};
  const std::vector<float> mean = mean_of(x, rows);
  const auto fast = covariance(x, rows, mean), reference = reference_covariance(x, rows, mean);
  ASSERT_EQ(fast.size(), reference.size());
  for (std::size_t i = 0; i < fast.size(); ++i) EXPECT_NEAR(fast[i], reference[i], 1e-9) << i;
}

TEST(Linalg, CholeskyInverseAndSolveMatchGaussJordan) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  for (std::size_t d : {1, 2, 7, 33}) {
    const std::vector<double> a = test::random_spd(d, rng);
    const CholeskyFactor factor(a, d, "test");
    const std::vector<double> inverse = factor.inverse(), reference = reference_inverse(a, d);
    for (std::size_t i = 0; i < d * d; ++i) EXPECT_NEAR(inverse[i], reference[i], 1e-8 * (1 + std::fabs(reference[i])));
    const std::size_t columns = 4;
    std::vector<double> b(d * columns);
    for (double& x : b) x = normal(rng);
    const std::vector<double> solved = factor.solve(b, columns);
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t c = 0; c < columns; ++c) {
        double expected = 0;
        for (std::size_t k = 0; k < d; ++k) expected += reference[i * d + k] * b[k * columns + c];
        EXPECT_NEAR(solved[i * columns + c], expected, 1e-8 * (1 + std::fabs(expected))) << d << " " << i << " " << c;
      }
  }
}

TEST(Linalg, ANonPositiveDefiniteMatrixIsRefusedByName) {
  const std::vector<double> a{1, 2, 2, 1};  // eigenvalues 3 and -1
  try {
    CholeskyFactor(a, 2, "tuning::FC");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(e.one_line().find("not positive definite"), std::string::npos) << e.one_line();
    EXPECT_NE(e.one_line().find("tuning::FC"), std::string::npos) << e.one_line();
  }
}
