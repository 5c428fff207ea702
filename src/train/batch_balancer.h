// Load balancing for ranks of unequal speed: synchronous data parallelism runs every step at the slowest rank's
// pace, so on nodes whose cores differ (a shared VM's vCPUs here ran 10-31% apart; a straggling node in a cluster)
// the fast ranks wait. The balancer splits each global batch between ranks in proportion to their measured speed:
// every rank reports its seconds of forward and backward per window, less the time they spent blocked on
// collectives (Communicator::seconds_waiting: the fast rank's wait for the slow one is not its work), the reports
// are all-gathered, each rank keeps the same exponential average of every rank's pace and takes the same
// decision: the split that makes the slowest rank's predicted time shortest, adopted when it shortens it by at least
// `min_gain` (so that noise does not move windows back and forth).
//
// The losses and the gradients are those of the global batch whatever the split (losses/losses.h weighs each
// rank's mean by its share; tests/train/test_mpi_equivalence.cpp holds uneven splits to world 1 within 1e-5), so
// the split changes only the order of floating-point sums. A run with train.balance on is therefore not bit for bit
// repeatable, and a resume starts again from the even split.
#pragma once

#include <cstdint>
#include <vector>

#include "dist/communicator.h"

namespace rslicer::train {

struct BalanceOptions {
  double smoothing = 0.3;    // weight of the newest step in each rank's average pace
  double min_gain = 0.03;    // a new split must shorten the slowest rank's predicted time by this fraction
  std::int64_t skip_steps = 1;  // first steps not measured (allocations, cold caches)
};

// The split of `total` windows over ranks that minimises the slowest rank's time, max_r split[r] * pace[r], with at
// least one window each (`pace`: seconds per window; total >= ranks): windows are handed one at a time to the rank
// that would finish it first (ties to the lower rank), which is optimal for equal windows.
std::vector<std::int64_t> fastest_split(std::int64_t total, const std::vector<double>& seconds_per_window);
// max_r split[r] * seconds_per_window[r].
double slowest_time(const std::vector<std::int64_t>& split, const std::vector<double>& seconds_per_window);

class BatchBalancer {
 public:
  BatchBalancer(std::vector<std::int64_t> initial_split, BalanceOptions options);

  const std::vector<std::int64_t>& split() const { return split_; }
  // Every rank's average seconds per window so far (empty before the first measured step).
  const std::vector<double>& pace() const { return pace_; }
  // After a step: every rank's seconds per window in it (the same vector on every rank). True when the split changed.
  bool observe(const std::vector<double>& seconds_per_window);
  // The same from this rank's figure: one all-gather of a double over `comm`.
  bool observe(double seconds_per_window, dist::Communicator& comm);

 private:
  std::vector<std::int64_t> split_;
  BalanceOptions options_;
  std::vector<double> pace_;
  std::int64_t seen_ = 0;
};

}  // namespace rslicer::train
