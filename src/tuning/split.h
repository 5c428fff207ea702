// Train/test splits (docs/design.md §7): by time (each store's earlier `train_fraction` of windows trains), by fault_time
// (each store is cut where its fault number ceil(train_fraction x faults) begins, so both sides have faults: tune on
// the earlier faults, test on the later ones), by system (the listed systems are held out; the others train) or by
// store (the listed stores, by path or file name, are held out: another date or deployment of a system).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/window_store.h"
#include "tuning/embeddings.h"

namespace rslicer::tuning {

struct SplitOptions {
  std::string by = "time";  // time | fault_time | system | store | none (everything trains: nothing to evaluate)
  double train_fraction = 0.6;
  std::vector<std::string> test_systems;
  std::vector<std::string> test_stores;
};

struct Split {
  std::vector<std::size_t> train, test;
};

// The `split` config group (configs/split/).
SplitOptions split_options(const config::Config& cfg);

Split split_rows(const EmbeddingSet& e, const SplitOptions& options);

// The windows of `stores` as rows without embeddings (store, time, label, fault, systems): what a split reads.
EmbeddingSet window_rows(const std::vector<std::shared_ptr<const data::WindowStoreReader>>& stores);
// Per store: how many of its first windows the split's training side holds (all for "none"), so that pre-training
// can read the training side alone and never the windows (or labels) it is evaluated on. Each split's training side
// is a prefix of every store (time order) or whole stores; anything else is an Error.
std::vector<std::size_t> training_prefix(const EmbeddingSet& rows, const SplitOptions& options);

}  // namespace rslicer::tuning
