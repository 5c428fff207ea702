// What each component looked like just before a fault: failure localization compares a component's pod-level
// embedding in the fault's windows with its embeddings in the windows before the fault began (BARO's "fault phase
// against the minutes before it", on embeddings instead of raw KPIs). It needs no training data of the system, so
// it transfers to a held-out period, date or system; the tuned per-state baselines are the fallback where no
// window before the fault has component embeddings (rslicer embed writes them for the
// embed.components.before_fault windows before each fault).
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "tuning/embeddings.h"

namespace rslicer::tuning {

// (store, fault) -> begin of the fault's first window: the onset as the windows see it.
using FaultOnsets = std::map<std::pair<int, int>, std::int64_t>;
FaultOnsets fault_onsets(const EmbeddingSet& e);

struct Reference {
  std::vector<float> mean;  // mean embedding of the component's last windows before the fault
  double spread = 0;        // their mean cosine distance to it: the component's own normal variation
  std::vector<std::size_t> rows;  // the component rows it is the mean of
};

class ComponentHistory {
 public:
  // `windows`: how many of a component's embedded windows before the onset form its reference (windows not
  // labelled abnormal: an earlier fault's windows are left out, as a deployed system knows its past alarms).
  ComponentHistory(const EmbeddingSet& e, std::size_t windows);
  // The reference of component `comp_id` of `store` from its windows that begin before `before_ns`; false when
  // fewer than 2 exist.
  bool reference(int store, int comp_id, std::int64_t before_ns, Reference& out) const;

 private:
  const EmbeddingSet& e_;
  std::size_t windows_;
  std::map<std::pair<int, int>, std::vector<std::pair<std::int64_t, std::size_t>>> rows_;  // by begin_ns: comp rows
};

}  // namespace rslicer::tuning
