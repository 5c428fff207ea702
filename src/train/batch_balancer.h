// Load balancing for ranks of unequal speed: synchronous data parallelism runs every step at the slowest rank's
// pace, so on nodes whose cores differ (a shared VM's vCPUs here ran 10-31% apart; a straggling node in a cluster)
// the fast ranks wait. The balancer splits each global batch between ranks in proportion to their measured speed:
// every rank reports its seconds of forward and backward per window, less the time they spent blocked on
// collectives (Communicator::seconds_waiting: the fast rank's wait for the slow one is not its work), the reports
// are all-gathered, each rank keeps the same exponential average of every rank's pace and takes the same
// decision: the split that makes the slowest rank's predicted time shortest, adopted when it shortens it by at least
// `min_gain` (so that noise does not move windows back and forth).
// The prediction is a model (time proportional to windows, from the paces measured at the current split); what a
// split really costs is measured. After each move the model chose, once the new split has run `settle_steps`
// measured steps, its slowest rank's average time is compared with the split it came from: slower by more than
// `measured_margin`, the balancer goes back (a move back is not judged again). Either way the ratio of measured to
// predicted time corrects later predictions of that split for `memory_steps` steps: a move the model got wrong
// (fixed per-step costs, a burst of noise) costs a few steps and is not retried for small predicted gains, while a
// large change of the ranks' speeds still moves.
//
// The losses and the gradients are those of the global batch whatever the split (losses/losses.h weighs each
// rank's mean by its share; tests/train/test_mpi_equivalence.cpp holds uneven splits to world 1 within 1e-5), so
// the split changes only the order of floating-point sums. A run with train.balance on is therefore not bit for bit
// repeatable, and a resume starts again from the even split.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "dist/communicator.h"

namespace rslicer::train {

// train.balance.* (configs/pretrain.yaml holds the defaults; train/pretrain_config.h reads them).
struct BalanceOptions {
  double smoothing = 0;    // weight of the newest step in each rank's average pace (and in a split's measured time)
  double min_gain = 0;     // a split not measured lately must shorten the slowest rank's predicted time by this fraction
  std::int64_t skip_steps = 0;    // steps not measured after the start and after each change of split (allocations, cold caches)
  std::int64_t settle_steps = 0;  // measured steps at a split before the next change
  std::int64_t memory_steps = 0;  // a split's measured time (and its correction) counts for this many steps
  double measured_margin = 0;     // a new split measured this fraction slower than the one it left: go back
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
  // After a step: every rank's seconds per window in it (the same vector on every rank) and the split the step ran
  // with (a new split reaches the batches only some steps after it is chosen: the loader's prefetch). True when
  // split() changed.
  bool observe(const std::vector<double>& seconds_per_window, const std::vector<std::int64_t>& ran_with);
  // The same from this rank's figure: one all-gather of a double over `comm`.
  bool observe(double seconds_per_window, const std::vector<std::int64_t>& ran_with, dist::Communicator& comm);
  // The slowest rank's average time a step (seconds) measured lately at `split`; 0 when not measured lately.
  double measured_seconds(const std::vector<std::int64_t>& split) const;
  // How many times split() changed.
  std::int64_t changes() const { return changes_; }
  // Whether the last change went back to the split before (the one it had left measured slower).
  bool moved_back() const { return moved_back_; }

  // Everything observed so far (paces, measured splits, corrections, the change being judged), for a checkpoint:
  // a resumed run goes on from it instead of learning the ranks' pace again. load_state_dict refuses a state of
  // another number of ranks.
  nlohmann::json state_dict() const;
  void load_state_dict(const nlohmann::json& state);

 private:
  struct Measured {
    double seconds = 0;  // average of max_r seconds_per_window[r] * split[r]
    std::int64_t count = 0, last_step = 0;
  };
  struct Correction {
    double ratio = 1;  // measured / predicted time, when the split had settled after the model chose it
    std::int64_t step = 0;
  };
  struct Move {
    std::vector<std::int64_t> from;
    double predicted = 0;  // the model's time for the new split when it was chosen; 0: a move back (no prediction)
  };
  bool recent(std::int64_t step) const { return step_ - step <= options_.memory_steps; }
  bool fresh(const Measured& m) const { return m.count > 0 && recent(m.last_step); }
  double correction(const std::vector<std::int64_t>& split) const;
  bool move_to(std::vector<std::int64_t> next, double predicted);  // predicted 0: back to a split measured before

  std::vector<std::int64_t> split_;
  BalanceOptions options_;
  std::vector<double> pace_;
  std::map<std::vector<std::int64_t>, Measured> measured_;
  std::map<std::vector<std::int64_t>, Correction> corrections_;
  std::optional<Move> unjudged_;          // the last change, until the new split has settled
  std::vector<std::int64_t> running_;     // the split the last steps ran with
  std::int64_t step_ = 0, steps_at_running_ = 0, changes_ = 0;
  bool moved_back_ = false;
};

}  // namespace rslicer::train
