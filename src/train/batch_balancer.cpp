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
  if (options_.skip_steps < 0 || options_.settle_steps < 1 || options_.memory_steps < 1)
    throw ConfigError("skip_steps " + std::to_string(options_.skip_steps) + ", settle_steps " + std::to_string(options_.settle_steps) +
                          ", memory_steps " + std::to_string(options_.memory_steps),
                      "train.balance", "skip_steps >= 0, settle_steps >= 1, memory_steps >= 1");
  if (!(options_.measured_margin >= 0 && options_.measured_margin < 1))
    throw ConfigError("measured_margin " + std::to_string(options_.measured_margin), "train.balance.measured_margin", "a fraction in [0, 1)");
}

bool BatchBalancer::observe(const std::vector<double>& seconds_per_window, const std::vector<std::int64_t>& ran_with) {
  if (seconds_per_window.size() != split_.size() || ran_with.size() != split_.size())
    throw Error(std::to_string(seconds_per_window.size()) + " paces and a split of " + std::to_string(ran_with.size()),
                "train::BatchBalancer", std::to_string(split_.size()) + " of each, one per rank");
  ++step_;
  if (ran_with != running_) {  // a new split's first steps allocate and find cold caches
    running_ = ran_with;
    steps_at_running_ = 0;
  }
  if (++steps_at_running_ <= options_.skip_steps) return false;
  if (pace_.empty()) {
    pace_ = seconds_per_window;
  } else {
    for (std::size_t r = 0; r < pace_.size(); ++r)
      pace_[r] = (1 - options_.smoothing) * pace_[r] + options_.smoothing * seconds_per_window[r];
  }
  Measured& here = measured_[ran_with];
  if (!fresh(here)) here = Measured{};
  const double slowest = slowest_time(ran_with, seconds_per_window);
  here.seconds = here.count == 0 ? slowest : (1 - options_.smoothing) * here.seconds + options_.smoothing * slowest;
  ++here.count;
  here.last_step = step_;
  // Decide only on the chosen split's own, settled measurements (the loader's prefetch still runs the old one).
  if (ran_with != split_ || here.count < options_.settle_steps) return false;

  if (unjudged_) {  // the last move: measured against the model, and against where it came from
    const Move move = std::move(*unjudged_);
    unjudged_.reset();
    // A move back is not judged again (two measurements taken apart in time would send the split back and forth
    // on a machine whose speed drifts); only the model's predictions are corrected.
    if (move.predicted > 0) {
      corrections_[split_] = Correction{here.seconds / move.predicted, step_};
      const auto before = measured_.find(move.from);
      if (before != measured_.end() && fresh(before->second) && here.seconds > (1 + options_.measured_margin) * before->second.seconds)
        return move_to(move.from, 0.0);
    }
  }
  const std::int64_t total = std::accumulate(split_.begin(), split_.end(), std::int64_t{0});
  std::vector<std::int64_t> candidate = fastest_split(total, pace_);
  if (candidate == split_) return false;
  const double predicted = slowest_time(candidate, pace_);
  if (predicted * correction(candidate) > (1 - options_.min_gain) * slowest_time(split_, pace_)) return false;
  return move_to(std::move(candidate), predicted);
}

double BatchBalancer::correction(const std::vector<std::int64_t>& split) const {
  const auto it = corrections_.find(split);
  return it != corrections_.end() && recent(it->second.step) ? it->second.ratio : 1.0;
}

bool BatchBalancer::move_to(std::vector<std::int64_t> next, double predicted) {
  unjudged_ = Move{split_, predicted};
  moved_back_ = predicted == 0;
  split_ = std::move(next);
  ++changes_;
  return true;
}

double BatchBalancer::measured_seconds(const std::vector<std::int64_t>& split) const {
  const auto it = measured_.find(split);
  return it != measured_.end() && fresh(it->second) ? it->second.seconds : 0.0;
}

bool BatchBalancer::observe(double seconds_per_window, const std::vector<std::int64_t>& ran_with, dist::Communicator& comm) {
  torch::Tensor mine = torch::tensor({seconds_per_window}, torch::kFloat64);
  torch::Tensor all = torch::empty({comm.world_size()}, torch::kFloat64);
  comm.allgather(mine, all)->wait();
  const double* p = all.data_ptr<double>();
  return observe(std::vector<double>(p, p + comm.world_size()), ran_with);
}

nlohmann::json BatchBalancer::state_dict() const {
  nlohmann::json measured = nlohmann::json::array(), corrections = nlohmann::json::array();
  for (const auto& [split, m] : measured_)
    measured.push_back({{"split", split}, {"seconds", m.seconds}, {"count", m.count}, {"last_step", m.last_step}});
  for (const auto& [split, c] : corrections_) corrections.push_back({{"split", split}, {"ratio", c.ratio}, {"step", c.step}});
  nlohmann::json state = {{"split", split_},       {"pace", pace_},     {"measured", measured},
                          {"corrections", corrections}, {"running", running_}, {"step", step_},
                          {"steps_at_running", steps_at_running_}, {"changes", changes_}, {"moved_back", moved_back_}};
  if (unjudged_) state["unjudged"] = {{"from", unjudged_->from}, {"predicted", unjudged_->predicted}};
  return state;
}

void BatchBalancer::load_state_dict(const nlohmann::json& state) {
  try {
    const auto split = state.at("split").get<std::vector<std::int64_t>>();
    if (split.size() != split_.size())
      throw Error("a balancer state of " + std::to_string(split.size()) + " ranks", "train::BatchBalancer::load_state_dict",
                  std::to_string(split_.size()) + " ranks, this run's");
    split_ = split;
    pace_ = state.at("pace").get<std::vector<double>>();
    measured_.clear();
    for (const auto& m : state.at("measured"))
      measured_[m.at("split").get<std::vector<std::int64_t>>()] = {m.at("seconds").get<double>(), m.at("count").get<std::int64_t>(),
                                                                   m.at("last_step").get<std::int64_t>()};
    corrections_.clear();
    for (const auto& c : state.at("corrections"))
      corrections_[c.at("split").get<std::vector<std::int64_t>>()] = {c.at("ratio").get<double>(), c.at("step").get<std::int64_t>()};
    unjudged_.reset();
    if (state.contains("unjudged"))
      unjudged_ = Move{state["unjudged"].at("from").get<std::vector<std::int64_t>>(), state["unjudged"].at("predicted").get<double>()};
    running_ = state.at("running").get<std::vector<std::int64_t>>();
    step_ = state.at("step").get<std::int64_t>();
    steps_at_running_ = state.at("steps_at_running").get<std::int64_t>();
    changes_ = state.at("changes").get<std::int64_t>();
    moved_back_ = state.at("moved_back").get<bool>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("a malformed balancer state: ") + e.what(), "train::BatchBalancer::load_state_dict",
                "the state_dict() of a balancer");
  }
}

}  // namespace rslicer::train
