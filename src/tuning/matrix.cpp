#include "tuning/matrix.h"

#include <cmath>
#include <cstring>

namespace rslicer::tuning {

Matrix Matrix::select(const std::vector<std::size_t>& indices) const {
  Matrix m(indices.size(), cols);
  for (std::size_t i = 0; i < indices.size(); ++i) std::memcpy(m.row(i), row(indices[i]), cols * sizeof(float));
  return m;
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
