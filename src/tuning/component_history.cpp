#include "tuning/component_history.h"

#include <algorithm>

namespace rslicer::tuning {

FaultOnsets fault_onsets(const EmbeddingSet& e) {
  FaultOnsets onsets;
  for (std::size_t r = 0; r < e.size(); ++r) {
    if (e.fault[r] < 0 || e.label[r] != 1) continue;
    auto [it, fresh] = onsets.try_emplace({e.store[r], e.fault[r]}, e.begin_ns[r]);
    if (!fresh) it->second = std::min(it->second, e.begin_ns[r]);
  }
  return onsets;
}

ComponentHistory::ComponentHistory(const EmbeddingSet& e, std::size_t windows) : e_(e), windows_(windows) {
  for (std::size_t c = 0; c < e.comp_row.size(); ++c) {
    const auto r = static_cast<std::size_t>(e.comp_row[c]);
    if (e.label[r] == 1) continue;  // an earlier fault's windows are no reference of normal behaviour
    rows_[{e.store[r], e.comp_id[c]}].emplace_back(e.begin_ns[r], c);
  }
  for (auto& [key, rows] : rows_) std::sort(rows.begin(), rows.end());
}

bool ComponentHistory::reference(int store, int comp_id, std::int64_t before_ns, Reference& out) const {
  auto it = rows_.find({store, comp_id});
  if (it == rows_.end()) return false;
  const auto& rows = it->second;
  const auto end = std::lower_bound(rows.begin(), rows.end(), std::pair<std::int64_t, std::size_t>{before_ns, 0});
  const auto n = std::min<std::size_t>(windows_, static_cast<std::size_t>(end - rows.begin()));
  if (n < 2) return false;
  out.rows.clear();
  for (auto k = end - static_cast<std::ptrdiff_t>(n); k != end; ++k) out.rows.push_back(k->second);
  out.mean = mean_of(e_.comp, out.rows);
  double spread = 0;
  for (auto c : out.rows) spread += 1.0 - cosine(e_.comp.row(c), out.mean.data(), e_.comp.cols);
  out.spread = spread / static_cast<double>(n);
  return true;
}

}  // namespace rslicer::tuning
