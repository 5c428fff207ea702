// State partitioning (paper eq. 7): k-means (k-means++ init, Lloyd) and a Gaussian mixture (diagonal covariances,
// EM), K given or chosen (silhouette for k-means, BIC for the mixture). The per-iteration sums go through
// `allreduce` so that data sharded over MPI ranks clusters as one (identity on one rank).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "tuning/matrix.h"

namespace rslicer::tuning {

// Sums a vector element-wise over ranks, in place.
using AllReduceSum = std::function<void(std::vector<double>&)>;
AllReduceSum local_only();

struct KMeansResult {
  Matrix centroids;               // [k, dim]
  std::vector<int> assignment;    // per row
  double inertia = 0;             // sum of squared distances to the assigned centroid
  int iterations = 0;
};

// k-means++ seeding from `seed` (on this rank's rows), then Lloyd until assignments stop changing or max_iter.
KMeansResult kmeans(const Matrix& x, int k, std::uint64_t seed, int max_iter = 100, const AllReduceSum& reduce = local_only());
// Lloyd from given initial centroids (for comparing with a reference implementation at equal init).
KMeansResult kmeans_from(const Matrix& x, Matrix centroids, int max_iter, const AllReduceSum& reduce = local_only());
// Nearest centroid per row: fp32 distances vectorised (the fast path Lloyd uses) and the reference in double.
// They agree except where two centroids are equally near to within fp32 rounding.
std::vector<int> assign_nearest(const Matrix& x, const Matrix& centroids);
std::vector<int> assign_nearest_reference(const Matrix& x, const Matrix& centroids);

struct GmmResult {
  Matrix means, variances;   // [k, dim] (diagonal)
  std::vector<double> weights;
  std::vector<int> assignment;
  double log_likelihood = 0, bic = 0;
};
GmmResult gaussian_mixture(const Matrix& x, int k, std::uint64_t seed, int max_iter = 100);

// Mean silhouette (Euclidean) of an assignment.
double silhouette(const Matrix& x, const std::vector<int>& assignment);

}  // namespace rslicer::tuning
