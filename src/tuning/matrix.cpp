#include "tuning/matrix.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace rslicer::tuning {

Matrix Matrix::select(const std::vector<std::size_t>& indices) const {
  Matrix m(indices.size(), cols);
  for (std::size_t i = 0; i < indices.size(); ++i) std::memcpy(m.row(i), row(indices[i]), cols * sizeof(float));
  return m;
}

std::vector<float> mean_of(const Matrix& m, const std::vector<std::size_t>& rows) {
  std::vector<double> s(m.cols, 0.0);
  for (auto r : rows)
    for (std::size_t j = 0; j < m.cols; ++j) s[j] += m.row(r)[j];
  std::vector<float> out(m.cols);
  for (std::size_t j = 0; j < m.cols; ++j) out[j] = static_cast<float>(s[j] / std::max<std::size_t>(rows.size(), 1));
  return out;
}

double squared_distance(const float* a, const float* b, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return s;
}

double cosine(const float* a, const float* b, std::size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

}  // namespace rslicer::tuning
