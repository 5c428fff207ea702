#include "tuning/clustering.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"

namespace rslicer::tuning {

AllReduceSum local_only() {
  return [](std::vector<double>&) {};
}

namespace {

// Squared distance in fp32 over 8 independent partial sums: the compiler vectorises it (a single running sum in
// double, the reference squared_distance, cannot be reordered, so it runs one element at a time).
float squared_distance_fast(const float* a, const float* b, std::size_t n) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (std::size_t l = 0; l < 8; ++l) {
      const float diff = a[j + l] - b[j + l];
      lanes[l] += diff * diff;
    }
  float tail = 0;
  for (; j < n; ++j) tail += (a[j] - b[j]) * (a[j] - b[j]);
  return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7])) + tail;
}

template <typename Distance>
std::vector<int> nearest(const Matrix& x, const Matrix& c, Distance distance) {
  std::vector<int> a(x.rows, 0);
  for (std::size_t i = 0; i < x.rows; ++i) {
    double best = std::numeric_limits<double>::max();
    for (std::size_t k = 0; k < c.rows; ++k) {
      const double d = distance(x.row(i), c.row(k), x.cols);
      if (d < best) {
        best = d;
        a[i] = static_cast<int>(k);
      }
    }
  }
  return a;
}

}  // namespace

std::vector<int> assign_nearest(const Matrix& x, const Matrix& c) { return nearest(x, c, squared_distance_fast); }

std::vector<int> assign_nearest_reference(const Matrix& x, const Matrix& c) { return nearest(x, c, squared_distance); }

KMeansResult kmeans_from(const Matrix& x, Matrix centroids, int max_iter, const AllReduceSum& reduce) {
  KMeansResult r;
  const std::size_t k = centroids.rows, d = x.cols;
  std::vector<int> previous;
  for (r.iterations = 0; r.iterations < max_iter; ++r.iterations) {
    r.assignment = assign_nearest(x, centroids);
    // sums [k * d] then counts [k], reduced over ranks
    std::vector<double> acc(k * d + k, 0.0);
    for (std::size_t i = 0; i < x.rows; ++i) {
      const auto c = static_cast<std::size_t>(r.assignment[i]);
      for (std::size_t j = 0; j < d; ++j) acc[c * d + j] += x.row(i)[j];
      acc[k * d + c] += 1;
    }
    reduce(acc);
    for (std::size_t c = 0; c < k; ++c) {
      const double n = acc[k * d + c];
      if (n == 0) continue;  // an empty cluster keeps its centroid
      for (std::size_t j = 0; j < d; ++j) centroids.row(c)[j] = static_cast<float>(acc[c * d + j] / n);
    }
    std::vector<double> changed{static_cast<double>(r.assignment != previous)};
    reduce(changed);
    if (changed[0] == 0) break;
    previous = r.assignment;
  }
  r.assignment = assign_nearest(x, centroids);
  std::vector<double> inertia{0.0};
  for (std::size_t i = 0; i < x.rows; ++i)
    inertia[0] += squared_distance(x.row(i), centroids.row(static_cast<std::size_t>(r.assignment[i])), d);
  reduce(inertia);
  r.inertia = inertia[0];
  r.centroids = std::move(centroids);
  return r;
}

KMeansResult kmeans(const Matrix& x, int k, std::uint64_t seed, int max_iter, const AllReduceSum& reduce) {
  if (k < 1 || static_cast<std::size_t>(k) > x.rows)
    throw ConfigError("k = " + std::to_string(k) + " for " + std::to_string(x.rows) + " points", "cluster.k",
                      "1 <= k <= number of windows");
  // k-means++: the first centre uniformly, then proportionally to the squared distance to the nearest centre.
  std::mt19937_64 rng(seed);
  Matrix c(static_cast<std::size_t>(k), x.cols);
  std::vector<double> nearest(x.rows, std::numeric_limits<double>::max());
  std::size_t first = rng() % x.rows;
  std::copy(x.row(first), x.row(first) + x.cols, c.row(0));
  for (int m = 1; m < k; ++m) {
    double total = 0;
    for (std::size_t i = 0; i < x.rows; ++i) {
      nearest[i] = std::min(nearest[i], squared_distance(x.row(i), c.row(static_cast<std::size_t>(m - 1)), x.cols));
      total += nearest[i];
    }
    double target = std::uniform_real_distribution<double>(0, total)(rng);
    std::size_t pick = 0;
    for (double cum = 0; pick + 1 < x.rows; ++pick) {
      cum += nearest[pick];
      if (cum >= target) break;
    }
    std::copy(x.row(pick), x.row(pick) + x.cols, c.row(static_cast<std::size_t>(m)));
  }
  return kmeans_from(x, std::move(c), max_iter, reduce);
}

GmmResult gaussian_mixture(const Matrix& x, int k, std::uint64_t seed, int max_iter) {
  const std::size_t n = x.rows, d = x.cols, K = static_cast<std::size_t>(k);
  KMeansResult init = kmeans(x, k, seed, 20);
  GmmResult g;
  g.means = init.centroids;
  g.variances = Matrix(K, d);
  g.weights.assign(K, 1.0 / static_cast<double>(K));
  constexpr double kVarFloor = 1e-6;
  std::vector<double> resp(n * K);
  double previous = -std::numeric_limits<double>::max();
  for (int it = 0; it < max_iter; ++it) {
    if (it == 0) {  // variances from the k-means partition
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = 0; c < K; ++c) resp[i * K + c] = init.assignment[i] == static_cast<int>(c);
    } else {
      // E step: log responsibilities with log-sum-exp.
      g.log_likelihood = 0;
      for (std::size_t i = 0; i < n; ++i) {
        double max_log = -std::numeric_limits<double>::max();
        for (std::size_t c = 0; c < K; ++c) {
          double lp = std::log(std::max(g.weights[c], 1e-300));
          for (std::size_t j = 0; j < d; ++j) {
            const double v = g.variances.row(c)[j], diff = x.row(i)[j] - g.means.row(c)[j];
            lp += -0.5 * (std::log(2 * M_PI * v) + diff * diff / v);
          }
          resp[i * K + c] = lp;
          max_log = std::max(max_log, lp);
        }
        double sum = 0;
        for (std::size_t c = 0; c < K; ++c) sum += std::exp(resp[i * K + c] - max_log);
        const double log_norm = max_log + std::log(sum);
        g.log_likelihood += log_norm;
        for (std::size_t c = 0; c < K; ++c) resp[i * K + c] = std::exp(resp[i * K + c] - log_norm);
      }
      if (g.log_likelihood - previous < 1e-6 * std::fabs(previous)) break;
      previous = g.log_likelihood;
    }
    // M step.
    for (std::size_t c = 0; c < K; ++c) {
      double nk = 0;
      std::vector<double> mean(d, 0.0), var(d, 0.0);
      for (std::size_t i = 0; i < n; ++i) {
        nk += resp[i * K + c];
        for (std::size_t j = 0; j < d; ++j) mean[j] += resp[i * K + c] * x.row(i)[j];
      }
      if (nk < 1e-9) continue;
      for (std::size_t j = 0; j < d; ++j) mean[j] /= nk;
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j) {
          const double diff = x.row(i)[j] - mean[j];
          var[j] += resp[i * K + c] * diff * diff;
        }
      g.weights[c] = nk / static_cast<double>(n);
      for (std::size_t j = 0; j < d; ++j) {
        g.means.row(c)[j] = static_cast<float>(mean[j]);
        g.variances.row(c)[j] = static_cast<float>(std::max(var[j] / nk, kVarFloor));
      }
    }
  }
  g.assignment.assign(n, 0);
  for (std::size_t i = 0; i < n; ++i)
    g.assignment[i] = static_cast<int>(std::max_element(resp.begin() + static_cast<std::ptrdiff_t>(i * K),
                                                        resp.begin() + static_cast<std::ptrdiff_t>((i + 1) * K)) -
                                       (resp.begin() + static_cast<std::ptrdiff_t>(i * K)));
  const double parameters = static_cast<double>(K * 2 * d + K - 1);
  g.bic = -2 * g.log_likelihood + parameters * std::log(static_cast<double>(n));
  return g;
}

double silhouette(const Matrix& x, const std::vector<int>& a) {
  const std::size_t n = x.rows;
  int k = 0;
  for (int c : a) k = std::max(k, c + 1);
  if (k < 2 || n < 3) return 0;
  double total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<double> sum(static_cast<std::size_t>(k), 0.0);
    std::vector<int> count(static_cast<std::size_t>(k), 0);
    for (std::size_t j = 0; j < n; ++j) {
      if (i == j) continue;
      sum[static_cast<std::size_t>(a[j])] += std::sqrt(squared_distance(x.row(i), x.row(j), x.cols));
      ++count[static_cast<std::size_t>(a[j])];
    }
    const auto own = static_cast<std::size_t>(a[i]);
    if (count[own] == 0) continue;  // a singleton scores 0, as sklearn does
    const double ai = sum[own] / count[own];
    double bi = std::numeric_limits<double>::max();
    for (std::size_t c = 0; c < static_cast<std::size_t>(k); ++c)
      if (c != own && count[c] > 0) bi = std::min(bi, sum[c] / count[c]);
    if (bi == std::numeric_limits<double>::max()) continue;
    total += (bi - ai) / std::max(ai, bi);
  }
  return total / static_cast<double>(n);
}

}  // namespace rslicer::tuning
