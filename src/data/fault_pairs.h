// Same-type fault pairs for the fault-type term of pre-training (losses/losses.h, `type`). A global batch of
// adjacent-window clusters holds one or two fault events, rarely two of one type, so a contrastive term over fault
// types would see almost no positive pair. This sampler puts `pairs` of them at the end of every global batch: for
// each pair a fault type (one with at least two events on the training side), two of its events, one abnormal
// window of each, shown whole or as its root cause's pod view (what failure classification embeds). The draw is a
// hash of (seed, step): the same on any number of ranks, after a resume, and for every world size.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "data/sampler.h"
#include "data/window_store.h"

namespace rslicer::data {

class FaultPairSampler {
 public:
  // Candidates: the first windows_per_store[s] windows of each store (at most its windows: the cluster sampler's
  // counts) that are abnormal, belong to a fault event of a known type, and whose root cause is a pod. `pairs` must
  // leave at least one window of the global batch to the clusters (a ConfigError naming loader.fault_pairs
  // otherwise).
  FaultPairSampler(const std::vector<std::shared_ptr<const WindowStoreReader>>& stores,
                   const std::vector<std::size_t>& windows_per_store, std::size_t pairs, std::size_t global_batch,
                   std::uint64_t seed, bool root_views = true);

  // Pairs per batch actually drawn: 0 when asked for none or when no fault type has two events.
  std::size_t pairs() const { return types_.empty() ? 0 : pairs_; }
  std::size_t types_with_pairs() const { return types_.size(); }
  bool root_views() const { return root_views_; }
  // Replaces the last 2 * pairs() samples of the global batch of `step` by that step's pairs (root_view set when
  // shown as root-cause views).
  void replace_tail(std::uint64_t step, std::vector<SampleRef>& global_batch) const;

 private:
  struct Event {
    std::uint32_t store;
    std::vector<std::uint32_t> windows;
  };
  std::vector<std::vector<Event>> types_;  // per fault type with >= 2 events: its events
  std::size_t pairs_;
  std::uint64_t seed_;
  bool root_views_;
};

}  // namespace rslicer::data
