#include "model/sequence_packing.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

namespace rslicer::model {

std::int64_t PackingPlan::tokens() const {
  std::int64_t n = 0;
  for (const auto& s : slots) n += s.length;
  return n;
}

double PackingPlan::padding_fraction() const {
  const double positions = static_cast<double>(rows) * static_cast<double>(capacity);
  return positions > 0 ? 1.0 - static_cast<double>(tokens()) / positions : 0.0;
}

PackingPlan plan_packing(const std::vector<std::int64_t>& lengths, std::int64_t capacity) {
  PackingPlan plan;
  plan.capacity = capacity;
  plan.slots.resize(lengths.size());
  std::vector<std::size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lengths[a] > lengths[b]; });
  std::vector<std::int64_t> used;  // tokens in each row so far
  for (std::size_t i : order) {
    const auto len = lengths[i];
    if (len < 0 || len > capacity)
      throw std::invalid_argument("sequence packing: sequence " + std::to_string(i) + " has " + std::to_string(len) +
                                  " tokens, expected 0.." + std::to_string(capacity));
    std::size_t row = 0;
    while (row < used.size() && used[row] + len > capacity) ++row;
    if (row == used.size()) used.push_back(0);
    plan.slots[i] = {static_cast<std::int64_t>(row), used[row], len};
    used[row] += len;
  }
  plan.rows = static_cast<std::int64_t>(used.size());
  return plan;
}

}  // namespace rslicer::model
