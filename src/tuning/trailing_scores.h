// Anomaly scores made comparable across periods and systems: each window's raw score as a robust z against the
// scores of the windows just before it in the same store (median and MAD of the previous `history` windows,
// train and test alike: only the past is read, as a deployed detector would). A drift of the whole score scale (a
// later period, another system, another load) moves the median with it, so a threshold chosen on the tuning
// split in these units does not flag every window of a later period. Windows with fewer than `min_history`
// predecessors use the tuning split's normal scores (`fallback`).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "tuning/matrix.h"

namespace rslicer::tuning {

struct RobustCentre {
  double median = 0, scale = 1;  // scale: 1.4826 x MAD (the standard deviation of a normal sample)
};
RobustCentre robust_centre(std::vector<double> values);

// Each store's rows in time order (stable for equal begins).
std::map<std::int32_t, std::vector<std::size_t>> rows_by_store_in_time(const std::vector<std::int32_t>& store,
                                                                        const std::vector<std::int64_t>& begin_ns);

// out[r] = (raw[r] - median(prior)) / scale(prior), prior = the `history` rows of store[r] that begin before r.
std::vector<double> trailing_robust_z(const std::vector<double>& raw, const std::vector<std::int32_t>& store,
                                      const std::vector<std::int64_t>& begin_ns, std::size_t history,
                                      std::size_t min_history, const RobustCentre& fallback);

// AD against a store's own past, for a store the tuned models never saw (another system or deployment, whose z
// the tuning stores' Gaussians do not describe): out[r] = 1 - cos(z[r], the coordinatewise median of z over the
// `history` rows of store[r] that begin before r). The median, not the mean, so that the windows of a fault in
// progress (a minority of the history) do not pull the reference towards themselves; 0 for a store's first row.
std::vector<double> trailing_median_distance(const Matrix& z, const std::vector<std::int32_t>& store,
                                             const std::vector<std::int64_t>& begin_ns, std::size_t history);

}  // namespace rslicer::tuning
