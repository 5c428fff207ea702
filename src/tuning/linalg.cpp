#include "tuning/linalg.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/error.h"

namespace rslicer::tuning {

namespace {

// A tensor over `v`'s memory (no copy; d x d doubles are 75 MB at d = 3072): valid while `v` lives unresized. Only
// read: the ops below do not write their inputs.
at::Tensor view_of(const std::vector<double>& v, std::int64_t rows, std::int64_t cols) {
  return at::from_blob(const_cast<double*>(v.data()), {rows, cols}, at::TensorOptions().dtype(at::kDouble));
}

std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

std::vector<double> covariance(const Matrix& x, const std::vector<std::size_t>& rows, const std::vector<float>& mean) {
  const std::size_t d = x.cols;
  std::vector<double> centred(rows.size() * d);
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (std::size_t j = 0; j < d; ++j) centred[i * d + j] = static_cast<double>(x.row(rows[i])[j]) - mean[j];
  const at::Tensor c = view_of(centred, static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(d));
  const double n = std::max<double>(1.0, static_cast<double>(rows.size()) - 1.0);
  return to_vector(at::matmul(c.t(), c).div_(n));
}

CholeskyFactor::CholeskyFactor(const std::vector<double>& a, std::size_t d, const std::string& where) : d_(d) {
  const auto n = static_cast<std::int64_t>(d);
  auto [lower, info] = at::linalg_cholesky_ex(view_of(a, n, n));
  if (info.item<int>() != 0)
    throw Error("covariance not positive definite (leading minor " + std::to_string(info.item<int>()) + ")", where,
                "a shrinkage > 0");
  lower_ = to_vector(lower);
}

std::vector<double> CholeskyFactor::solve(const std::vector<double>& b, std::size_t columns) const {
  const auto n = static_cast<std::int64_t>(d_);
  return to_vector(at::cholesky_solve(view_of(b, n, static_cast<std::int64_t>(columns)), view_of(lower_, n, n)));
}

std::vector<double> CholeskyFactor::inverse() const {
  const auto n = static_cast<std::int64_t>(d_);
  return to_vector(at::cholesky_inverse(view_of(lower_, n, n)));
}

}  // namespace rslicer::tuning
