#include "tuning/call_graph.h"

#include <algorithm>

#include "tuning/trailing_scores.h"

namespace rslicer::tuning {

CallGraph::CallGraph(const EmbeddingSet& e) {
  for (std::size_t i = 0; i < e.call_store.size(); ++i) calls_.insert({e.call_store[i], e.call_caller[i], e.call_callee[i]});
}

void discount_by_callees(std::vector<std::pair<double, std::size_t>>& pods, const EmbeddingSet& e,
                         const CallGraph& graph, int store, double weight) {
  if (weight == 0 || graph.empty() || pods.size() < 2) return;
  std::vector<double> scores;
  for (const auto& p : pods) scores.push_back(p.first);
  const RobustCentre centre = robust_centre(scores);
  const double stands_out = kCalleeOutlierZ * centre.scale;
  for (std::size_t i = 0; i < pods.size(); ++i) {
    const int caller = e.comp_service[pods[i].second];
    double explained = 0;  // the largest excess of a pod this one calls, among those that stand out
    for (std::size_t j = 0; j < pods.size(); ++j) {
      const double excess = scores[j] - centre.median;
      if (excess >= stands_out && graph.calls(store, caller, e.comp_service[pods[j].second]))
        explained = std::max(explained, excess);
    }
    pods[i].first = scores[i] - weight * explained;
  }
}

}  // namespace rslicer::tuning
