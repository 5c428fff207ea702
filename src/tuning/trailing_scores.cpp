#include "tuning/trailing_scores.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace rslicer::tuning {

namespace {
double median_of(std::vector<double>& v) {
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double m = v[mid];
  if (v.size() % 2 == 0) m = 0.5 * (m + *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid)));
  return m;
}
}  // namespace

RobustCentre robust_centre(std::vector<double> values) {
  RobustCentre c;
  if (values.empty()) return c;
  c.median = median_of(values);
  for (double& v : values) v = std::fabs(v - c.median);
  // A floor relative to the level, so that a constant history does not make every change infinitely abnormal.
  c.scale = std::max(1.4826 * median_of(values), 1e-6 * std::fabs(c.median) + 1e-12);
  return c;
}

std::map<std::int32_t, std::vector<std::size_t>> rows_by_store_in_time(const std::vector<std::int32_t>& store,
                                                                        const std::vector<std::int64_t>& begin_ns) {
  std::map<std::int32_t, std::vector<std::size_t>> rows_of_store;
  for (std::size_t r = 0; r < store.size(); ++r) rows_of_store[store[r]].push_back(r);
  for (auto& [s, rows] : rows_of_store)
    std::stable_sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) { return begin_ns[a] < begin_ns[b]; });
  return rows_of_store;
}

std::vector<double> trailing_robust_z(const std::vector<double>& raw, const std::vector<std::int32_t>& store,
                                      const std::vector<std::int64_t>& begin_ns, std::size_t history,
                                      std::size_t min_history, const RobustCentre& fallback) {
  std::vector<double> out(raw.size(), 0.0);
  for (const auto& [s, rows] : rows_by_store_in_time(store, begin_ns)) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const std::size_t first = i > history ? i - history : 0;
      RobustCentre c = fallback;
      if (i - first >= min_history) {
        std::vector<double> prior;
        for (std::size_t k = first; k < i; ++k) prior.push_back(raw[rows[k]]);
        c = robust_centre(std::move(prior));
      }
      out[rows[i]] = (raw[rows[i]] - c.median) / c.scale;
    }
  }
  return out;
}

std::vector<double> trailing_median_distance(const Matrix& z, const std::vector<std::int32_t>& store,
                                             const std::vector<std::int64_t>& begin_ns, std::size_t history) {
  std::vector<double> out(z.rows, 0.0);
  std::vector<float> centre(z.cols), column;
  for (const auto& [s, rows] : rows_by_store_in_time(store, begin_ns)) {
    for (std::size_t i = 1; i < rows.size(); ++i) {
      const std::size_t first = i > history ? i - history : 0;
      for (std::size_t j = 0; j < z.cols; ++j) {
        column.clear();
        for (std::size_t k = first; k < i; ++k) column.push_back(z.row(rows[k])[j]);
        const auto mid = column.begin() + static_cast<std::ptrdiff_t>(column.size() / 2);
        std::nth_element(column.begin(), mid, column.end());
        centre[j] = *mid;  // the upper median: one of the values, no averaging needed for a reference
      }
      out[rows[i]] = 1.0 - cosine(z.row(rows[i]), centre.data(), z.cols);
    }
  }
  return out;
}

}  // namespace rslicer::tuning
