#include "train/batch_balancer.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace rslicer::train {

std::vector<std::int64_t> fastest_split(std::int64_t total, const std::vector<double>& seconds_per_window) {
  const auto ranks = static_cast<std::int64_t>(seconds_per_window.size());
  if (ranks == 0 || total < ranks)
    throw Error("a split of " + std::to_string(total) + " windows over " + std::to_string(ranks) + " ranks", "train::fastest_split",
                "at least one window per rank");
  for (double p : seconds_per_window)
    if (!(p > 0) || !std::isfinite(p))
      throw Error("a rank's pace of " + std::to_string(p) + " s a window", "train::fastest_split", "positive finite paces");
  std::vector<std::int64_t> split(static_cast<std::size_t>(ranks), 1);
  for (std::int64_t left = total - ranks; left > 0; --left) {
    std::size_t best = 0;
    for (std::size_t r = 1; r < split.size(); ++r)
      if (static_cast<double>(split[r] + 1) * seconds_per_window[r] < static_cast<double>(split[best] + 1) * seconds_per_window[best])
        best = r;
    ++split[best];
  }
  return split;
}

double slowest_time(const std::vector<std::int64_t>& split, const std::vector<double>& seconds_per_window) {
  double slowest = 0;
  for (std::size_t r = 0; r < split.size(); ++r) slowest = std::max(slowest, static_cast<double>(split[r]) * seconds_per_window.at(r));
  return slowest;
}

BatchBalancer::BatchBalancer(std::vector<std::int64_t> initial_split, BalanceOptions options)
    : split_(std::move(initial_split)), options_(options) {
  if (split_.empty()) throw Error("an empty split", "train::BatchBalancer", "one count per rank");
  if (!(options_.smoothing > 0 && options_.smoothing <= 1))
    throw ConfigError("smoothing " + std::to_string(options_.smoothing), "train.balance.smoothing", "a weight in (0, 1]");
  if (!(options_.min_gain >= 0 && options_.min_gain < 1))
    throw ConfigError("min_gain " + std::to_string(options_.min_gain), "train.balance.min_gain", "a fraction in [0, 1)");
}

bool BatchBalancer::observe(const std::vector<double>& seconds_per_window) {
  if (seconds_per_window.size() != split_.size())
    throw Error(std::to_string(seconds_per_window.size()) + " paces", "train::BatchBalancer", std::to_string(split_.size()) + ", one per rank");
  if (++seen_ <= options_.skip_steps) return false;
  if (pace_.empty()) {
    pace_ = seconds_per_window;
  } else {
    for (std::size_t r = 0; r < pace_.size(); ++r)
      pace_[r] = (1 - options_.smoothing) * pace_[r] + options_.smoothing * seconds_per_window[r];
  }
  const std::int64_t total = std::accumulate(split_.begin(), split_.end(), std::int64_t{0});
  std::vector<std::int64_t> candidate = fastest_split(total, pace_);
  if (candidate == split_ || slowest_time(candidate, pace_) > (1 - options_.min_gain) * slowest_time(split_, pace_)) return false;
  split_ = std::move(candidate);
  return true;
}

bool BatchBalancer::observe(double seconds_per_window, dist::Communicator& comm) {
  torch::Tensor mine = torch::tensor({seconds_per_window}, torch::kFloat64);
  torch::Tensor all = torch::empty({comm.world_size()}, torch::kFloat64);
  comm.allgather(mine, all)->wait();
  const double* p = all.data_ptr<double>();
  return observe(std::vector<double>(p, p + comm.world_size()));
}

}  // namespace rslicer::train
