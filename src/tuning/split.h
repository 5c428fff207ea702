// Train/test splits (GUIDE §7): by time (each store's earlier `train_fraction` of windows trains) or by system
// (the listed systems are held out for testing; the others train).
#pragma once

#include <string>
#include <vector>

#include "tuning/embeddings.h"

namespace rslicer::tuning {

struct SplitOptions {
  std::string by = "time";  // time | system
  double train_fraction = 0.6;
  std::vector<std::string> test_systems;
};

struct Split {
  std::vector<std::size_t> train, test;
};

Split split_rows(const EmbeddingSet& e, const SplitOptions& options);

}  // namespace rslicer::tuning
