// RSLICER_FAULT's forms parse once into a FaultInjector; a malformed one is refused with the forms it takes, and
// each hook fires only at its own rank and step (the process-killing ones are exercised under mpirun by
// tests/train/test_faults.sh and tests/train/test_checkpoint.sh).
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "train/fault_injector.h"

using rslicer::ConfigError;
using rslicer::train::FaultInjector;

TEST(FaultInjector, NanLossHitsOnlyItsStep) {
  const FaultInjector f = FaultInjector::parse("nan_loss:3");
  const torch::Tensor loss = torch::tensor(1.5f);
  EXPECT_TRUE(std::isnan(f.on_loss(2, loss).item<float>()));  // step 3 counted from 1 is steps_done() == 2
  EXPECT_EQ(f.on_loss(1, loss).item<float>(), 1.5f);
  EXPECT_EQ(f.on_loss(3, loss).item<float>(), 1.5f);
  EXPECT_EQ(FaultInjector().on_loss(2, loss).item<float>(), 1.5f);
}

TEST(FaultInjector, OtherRanksAndStepsAreLeftAlone) {
  // A kill or hang for rank 1 at step 3 must return everywhere else (the test would die or hang otherwise).
  for (const char* spec : {"kill_in_step:1:3", "hang_in_step:1:3", "kill_in_save:1:4"}) {
    const FaultInjector f = FaultInjector::parse(spec);
    f.after_forward(0, 2);
    f.after_forward(1, 3);
    f.after_shard_written(0, 4);
    f.after_shard_written(1, 3);
  }
  const FaultInjector slow = FaultInjector::parse("slow_rank:1:8");
  const auto t0 = std::chrono::steady_clock::now();
  slow.slow_down(0, t0 - std::chrono::seconds(10));  // not the slowed rank: returns at once
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

TEST(FaultInjector, MalformedSpecsAreRefused) {
  EXPECT_NO_THROW(FaultInjector::parse(""));
  for (const char* spec : {"nan_loss", "nan_loss:x", "nan_loss:3:4", "kill_in_step:1", "slow_rank:1:8x", "explode:1:2"})
    EXPECT_THROW(FaultInjector::parse(spec), ConfigError) << spec;
}
