// A dense row-major float matrix: the embeddings the tuning stage works on ([rows, dim]).
#pragma once

#include <cstddef>
#include <vector>

namespace rslicer::tuning {

struct Matrix {
  std::size_t rows = 0, cols = 0;
  std::vector<float> data;
  Matrix() = default;
  Matrix(std::size_t r, std::size_t c) : rows(r), cols(c), data(r * c, 0.0f) {}
  float* row(std::size_t i) { return data.data() + i * cols; }
  const float* row(std::size_t i) const { return data.data() + i * cols; }
  Matrix select(const std::vector<std::size_t>& indices) const;
};

// The mean of `rows` of `m` (summed in double; zeros for no rows).
std::vector<float> mean_of(const Matrix& m, const std::vector<std::size_t>& rows);
double squared_distance(const float* a, const float* b, std::size_t n);
double cosine(const float* a, const float* b, std::size_t n);

}  // namespace rslicer::tuning
