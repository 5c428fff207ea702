// Each store's service call graph (caller -> callee, from its traces: `rslicer embed` writes it beside the
// embeddings) and what failure localization does with it. A fault spreads upstream: a slow or erroring pod makes
// its callers slow or erroring too, and a caller's texts (more edges, more error lines) can move further than the
// root cause's own. So a pod is discounted by how far the pods it calls moved beyond the typical pod: the part of
// its move that a callee explains (trace-based root cause analysis blames the most downstream anomaly, as
// MicroRank and Nezha do through the call graph). Only a callee that stands out among the window's pods (robust z
// of its score >= kCalleeOutlierZ) explains anything: where every pod moved (Nezha records traces in fault minutes
// only, so all pods' texts change), a pod with many callees would otherwise be discounted by whichever moved most
// by chance; ungated, the discount cost Nezha Train-Ticket its one localized event of 6 (seed 1). Measured on two
// `make quality` runs' embeddings (docs/evaluation.md): FL pod Top-1 per window on the demo's held-out period
// 52.3 -> 62.8 and 54.0 -> 67.8 (seeds 0, 1), Nezha unchanged within one event.
#pragma once

#include <cstddef>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "tuning/embeddings.h"

namespace rslicer::tuning {

class CallGraph {
 public:
  explicit CallGraph(const EmbeddingSet& e);
  bool calls(int store, int caller_service, int callee_service) const {
    return calls_.count({store, caller_service, callee_service}) > 0;
  }
  bool empty() const { return calls_.empty(); }

 private:
  std::set<std::tuple<int, int, int>> calls_;
};

constexpr double kCalleeOutlierZ = 3.0;  // a callee explains a caller's move when its score's robust z is >= this

// One store's pods as (score, a component row of the pod), higher: moved more. Each score becomes itself less
// `weight` x the largest excess over the median score among the pods of the services its service calls whose
// excess is at least kCalleeOutlierZ robust scales (1.4826 MAD of the scores); 0 where none is. Scores are read
// before any is changed, so the order of `pods` is irrelevant.
void discount_by_callees(std::vector<std::pair<double, std::size_t>>& pods, const EmbeddingSet& e,
                         const CallGraph& graph, int store, double weight);

}  // namespace rslicer::tuning
