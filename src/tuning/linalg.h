// The dense linear algebra of the task models' Gaussians, by LibTorch's BLAS and LAPACK: a covariance (X'X, one
// matrix product) and solves with a symmetric positive-definite matrix through its Cholesky factor (d^3 / 3 once,
// then d^2 a right-hand side). FC's signatures are 3 x the backbone's width (3072 with Qwen3-Embedding-0.6B), where
// loops of Gauss-Jordan elimination (2 d^3, the d x d inverse kept) took half a minute. Row-major doubles in and
// out; the plain loops these replace are the reference they are tested against (tests/tuning/test_linalg.cpp).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "tuning/matrix.h"

namespace rslicer::tuning {

// The sample covariance of `rows` of `x` about `mean` (divided by rows - 1, at least 1), [d, d] row-major.
std::vector<double> covariance(const Matrix& x, const std::vector<std::size_t>& rows, const std::vector<float>& mean);

// A symmetric positive-definite matrix A = L L', kept as its lower factor L.
class CholeskyFactor {
 public:
  // `a`: [d, d] row-major. Throws Error naming `where` when A is not positive definite.
  CholeskyFactor(const std::vector<double>& a, std::size_t d, const std::string& where);
  std::size_t dim() const { return d_; }
  // A^-1 B for B [d, columns] row-major.
  std::vector<double> solve(const std::vector<double>& b, std::size_t columns) const;
  // A^-1, [d, d] row-major.
  std::vector<double> inverse() const;

 private:
  std::size_t d_;
  std::vector<double> lower_;  // L, [d, d] row-major
};

}  // namespace rslicer::tuning
