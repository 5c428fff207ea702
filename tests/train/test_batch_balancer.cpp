// The batch balancer's rule (train/batch_balancer.h): the split that minimises the slowest rank's time, checked
// against every split of small batches, and the balancer's decisions (first step not measured, averaged paces,
// a change only when it gains min_gain).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"
#include "train/batch_balancer.h"

using namespace rslicer;
using namespace rslicer::train;

namespace {

// The reference: every split of `total` into ranks of at least one window, the smallest slowest time.
double best_slowest_time(std::int64_t total, const std::vector<double>& pace) {
  double best = std::numeric_limits<double>::infinity();
  std::vector<std::int64_t> split(pace.size(), 1);
  auto visit = [&](auto&& self, std::size_t r, std::int64_t left) -> void {
    if (r + 1 == pace.size()) {
      split[r] = left;
      best = std::min(best, slowest_time(split, pace));
      return;
    }
    for (std::int64_t n = 1; n <= left - static_cast<std::int64_t>(pace.size() - r - 1); ++n) {
      split[r] = n;
      self(self, r + 1, left - n);
    }
  };
  visit(visit, 0, total);
  return best;
}

}  // namespace

TEST(BatchBalancer, FastestSplitIsTheBestOfEverySplit) {
  EXPECT_EQ(fastest_split(16, {0.01, 0.01}), (std::vector<std::int64_t>{8, 8}));
  EXPECT_EQ(fastest_split(16, {0.0100, 0.0127}), (std::vector<std::int64_t>{9, 7}));  // cores 27% apart
  EXPECT_EQ(fastest_split(14, {1, 2, 4}), (std::vector<std::int64_t>{8, 4, 2}));
  EXPECT_EQ(fastest_split(4, {1, 1000}), (std::vector<std::int64_t>{3, 1}));  // every rank keeps a window
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> speed(0.5, 2.0);
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t ranks = 2 + trial % 3;
    const std::int64_t total = static_cast<std::int64_t>(ranks) + trial % 11;
    std::vector<double> pace;
    for (std::size_t r = 0; r < ranks; ++r) pace.push_back(speed(rng));
    const auto split = fastest_split(total, pace);
    std::int64_t sum = 0;
    for (auto n : split) {
      EXPECT_GE(n, 1);
      sum += n;
    }
    EXPECT_EQ(sum, total);
    EXPECT_DOUBLE_EQ(slowest_time(split, pace), best_slowest_time(total, pace)) << "trial " << trial;
  }
  EXPECT_THROW(fastest_split(1, {1, 1}), Error);
  EXPECT_THROW(fastest_split(4, {1, 0}), Error);
  EXPECT_THROW(fastest_split(4, {1, std::nan("")}), Error);
}

TEST(BatchBalancer, MovesWindowsToTheFasterRankWhenItPays) {
  BatchBalancer balancer({8, 8}, BalanceOptions{0.5, 0.03, 1});
  EXPECT_FALSE(balancer.observe({0.010, 0.020}));  // the first step is not measured
  EXPECT_TRUE(balancer.pace().empty());
  EXPECT_TRUE(balancer.observe({0.010, 0.0127}));
  EXPECT_EQ(balancer.split(), (std::vector<std::int64_t>{9, 7}));
  EXPECT_FALSE(balancer.observe({0.010, 0.0127}));  // already the best split
  // One step of equal paces moves the average half way (smoothing 0.5): 9/7 is still best.
  EXPECT_FALSE(balancer.observe({0.010, 0.010}));
  EXPECT_EQ(balancer.split(), (std::vector<std::int64_t>{9, 7}));
  EXPECT_NEAR(balancer.pace()[1], 0.01135, 1e-9);
  // Paces that stay equal bring the split back to even once that gains more than min_gain.
  bool changed = false;
  for (int i = 0; i < 10 && !changed; ++i) changed = balancer.observe({0.010, 0.010});
  EXPECT_TRUE(changed);
  EXPECT_EQ(balancer.split(), (std::vector<std::int64_t>{8, 8}));

  // Ranks 2% apart: the best split (9/7 would be slower) is the even one; 8/8 stays.
  BatchBalancer close({8, 8}, BalanceOptions{1.0, 0.03, 0});
  EXPECT_FALSE(close.observe({0.010, 0.0102}));
  EXPECT_EQ(close.split(), (std::vector<std::int64_t>{8, 8}));
  // A gain below min_gain is not taken: 33/31 over 32/32 at paces 1 : 1.05 gains 2.3%.
  BatchBalancer small_gain({32, 32}, BalanceOptions{1.0, 0.03, 0});
  EXPECT_FALSE(small_gain.observe({0.010, 0.0105}));
  BatchBalancer any_gain({32, 32}, BalanceOptions{1.0, 0.0, 0});
  EXPECT_TRUE(any_gain.observe({0.010, 0.0105}));
  EXPECT_EQ(any_gain.split(), (std::vector<std::int64_t>{33, 31}));

  EXPECT_THROW(balancer.observe({0.01}), Error);
  EXPECT_THROW(BatchBalancer({8, 8}, BalanceOptions{0.0, 0.03, 1}), ConfigError);
  EXPECT_THROW(BatchBalancer({8, 8}, BalanceOptions{0.5, 1.0, 1}), ConfigError);
}
