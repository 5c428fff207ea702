// t-SNE (van der Maaten and Hinton 2008), exact: the 2-D maps of state embeddings in evaluation reports.
// As scikit-learn's TSNE(method="exact") does it: Gaussian affinities calibrated per point to the perplexity by
// bisection on the precision, symmetrised; Student-t affinities in the map; gradient descent with momentum (0.5,
// then 0.8), per-coordinate gains (+0.2 / x0.8, at least 0.01) and early exaggeration (12 for the first 250
// iterations); learning rate max(N / 12 / 4, 50) ("auto"). O(N^2) per iteration: meant for up to a few thousand
// points (reports subsample beyond that).
#pragma once

#include <cstdint>

#include "tuning/matrix.h"

namespace rslicer::tuning {

struct TsneOptions {
  double perplexity = 30.0;
  int iterations = 1000;
  int exaggeration_iterations = 250;
  double early_exaggeration = 12.0;
  std::uint64_t seed = 0;
};

struct TsneResult {
  Matrix map;                   // [N, 2]
  double kl_divergence = 0;     // KL(P || Q) of the final map
};

TsneResult tsne(const Matrix& x, const TsneOptions& options = {});

}  // namespace rslicer::tuning
