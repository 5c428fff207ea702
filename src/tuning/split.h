// Train/test splits (GUIDE §7): by time (each store's earlier `train_fraction` of windows trains), by fault_time
// (each store is cut where its fault number ceil(train_fraction x faults) begins, so both sides have faults: tune on
// the earlier faults, test on the later ones) or by system (the listed systems are held out; the others train).
#pragma once

#include <string>
#include <vector>

#include "tuning/embeddings.h"

namespace rslicer::tuning {

struct SplitOptions {
  std::string by = "time";  // time | fault_time | system
  double train_fraction = 0.6;
  std::vector<std::string> test_systems;
};

struct Split {
  std::vector<std::size_t> train, test;
};

Split split_rows(const EmbeddingSet& e, const SplitOptions& options);

}  // namespace rslicer::tuning
