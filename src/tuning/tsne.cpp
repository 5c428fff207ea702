#include "tuning/tsne.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"

namespace rslicer::tuning {

namespace {

// Conditional affinities p_{j|i} with the precision beta_i that gives entropy log(perplexity), by bisection
// (scikit-learn's _binary_search_perplexity: 100 steps at most, tolerance 1e-5 on the entropy).
std::vector<double> conditional_affinities(const std::vector<double>& d2, std::size_t n, double perplexity) {
  std::vector<double> p(n * n, 0.0);
  const double target = std::log(perplexity);
  for (std::size_t i = 0; i < n; ++i) {
    double beta = 1.0, lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
    double* row = p.data() + i * n;
    for (int step = 0; step < 100; ++step) {
      double sum = 0;
      for (std::size_t j = 0; j < n; ++j) {
        row[j] = j == i ? 0.0 : std::exp(-d2[i * n + j] * beta);
        sum += row[j];
      }
      if (sum == 0) sum = 1e-8;
      double weighted = 0;
      for (std::size_t j = 0; j < n; ++j) {
        row[j] /= sum;
        weighted += d2[i * n + j] * row[j];
      }
      const double entropy = std::log(sum) + beta * weighted;
      const double diff = entropy - target;
      if (std::abs(diff) <= 1e-5) break;
      if (diff > 0) {
        lo = beta;
        beta = std::isinf(hi) ? beta * 2 : (beta + hi) / 2;
      } else {
        hi = beta;
        beta = std::isinf(lo) ? beta / 2 : (beta + lo) / 2;
      }
    }
  }
  return p;
}

}  // namespace

TsneResult tsne(const Matrix& x, const TsneOptions& o) {
  const std::size_t n = x.rows;
  if (n < 2) throw Error("t-SNE needs at least 2 points, got " + std::to_string(n), "tsne", "2 or more embeddings");
  if (o.perplexity <= 0 || o.perplexity >= static_cast<double>(n))
    throw Error("t-SNE perplexity " + std::to_string(o.perplexity) + " for " + std::to_string(n) + " points", "tsne.perplexity",
                "between 0 and the number of points");
  std::vector<double> d2(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) d2[i * n + j] = d2[j * n + i] = squared_distance(x.row(i), x.row(j), x.cols);
  auto p = conditional_affinities(d2, n, o.perplexity);
  // Symmetric joint affinities P = (P + P^T) / sum, floored as scikit-learn does (MACHINE_EPSILON).
  double total = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      const double s = p[i * n + j] + p[j * n + i];
      p[i * n + j] = p[j * n + i] = s;
      total += 2 * s;
    }
  for (auto& v : p) v = std::max(v / total, std::numeric_limits<double>::epsilon());
  for (std::size_t i = 0; i < n; ++i) p[i * n + i] = 0;

  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> init(0.0, 1e-4);
  std::vector<double> y(n * 2), update(n * 2, 0.0), gains(n * 2, 1.0), grad(n * 2), num(n * n);
  for (auto& v : y) v = init(rng);
  const double learning_rate = std::max(static_cast<double>(n) / o.early_exaggeration / 4.0, 50.0);
  TsneResult result;
  for (int it = 0; it < o.iterations; ++it) {
    const bool early = it < o.exaggeration_iterations;
    const double exaggeration = early ? o.early_exaggeration : 1.0, momentum = early ? 0.5 : 0.8;
    double sum_num = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = i + 1; j < n; ++j) {
        const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
        const double v = 1.0 / (1.0 + dx * dx + dy * dy);
        num[i * n + j] = num[j * n + i] = v;
        sum_num += 2 * v;
      }
    std::fill(grad.begin(), grad.end(), 0.0);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        if (i == j) continue;
        const double q = std::max(num[i * n + j] / sum_num, std::numeric_limits<double>::epsilon());
        const double f = 4.0 * (exaggeration * p[i * n + j] - q) * num[i * n + j];
        grad[2 * i] += f * (y[2 * i] - y[2 * j]);
        grad[2 * i + 1] += f * (y[2 * i + 1] - y[2 * j + 1]);
      }
    for (std::size_t k = 0; k < 2 * n; ++k) {
      gains[k] = (update[k] * grad[k] < 0) ? gains[k] + 0.2 : gains[k] * 0.8;
      gains[k] = std::max(gains[k], 0.01);
      update[k] = momentum * update[k] - learning_rate * gains[k] * grad[k];
      y[k] += update[k];
    }
    if (it + 1 == o.iterations) {
      double kl = 0;
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j)
          if (i != j) kl += p[i * n + j] * std::log(p[i * n + j] / std::max(num[i * n + j] / sum_num, std::numeric_limits<double>::epsilon()));
      result.kl_divergence = kl;
    }
  }
  result.map = Matrix(n, 2);
  for (std::size_t k = 0; k < 2 * n; ++k) result.map.data[k] = static_cast<float>(y[k]);
  return result;
}

}  // namespace rslicer::tuning
