// A random symmetric positive-definite matrix for the tuning tests: B'B / d + 0.1 I for B of standard normals.
#pragma once

#include <cstddef>
#include <random>
#include <vector>

namespace rslicer::test {

inline std::vector<double> random_spd(std::size_t d, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  std::vector<double> b(d * d), a(d * d, 0.0);
  for (double& x : b) x = normal(rng);
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = 0; j < d; ++j) {
      for (std::size_t k = 0; k < d; ++k) a[i * d + j] += b[k * d + i] * b[k * d + j] / static_cast<double>(d);
      if (i == j) a[i * d + j] += 0.1;
    }
  return a;
}

}  // namespace rslicer::test
