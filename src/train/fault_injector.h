// Test hooks for the fault-tolerance tests, parsed once from RSLICER_FAULT (never set in normal runs) and called
// at named points of the trainer and the checkpoint writer:
//   nan_loss:S          the loss of step S is NaN (the non-finite policy; tests/train/test_faults.sh)
//   kill_in_step:R:S    rank R kills itself (SIGKILL) after the forward pass of step S (the survivors' watchdog)
//   hang_in_step:R:S    rank R stops forever at that point (the others' collective timeout)
//   slow_rank:R:F       rank R computes F times slower: after its encoder and its backward it idles F - 1 times the
//                       time each took, before the next collective (train.balance; tests/train/test_checkpoint.sh)
//   kill_in_save:R:S    rank R kills itself after writing its shard of step S's checkpoint, before the checkpoint
//                       completes (tests/train/test_checkpoint.sh)
// Steps count from 1, as the progress lines do. An unset or empty RSLICER_FAULT injects nothing.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace rslicer::train {

class FaultInjector {
 public:
  FaultInjector() = default;                           // injects nothing
  static FaultInjector parse(const std::string& spec);  // one of the forms above; anything else is a ConfigError
  static FaultInjector from_environment();             // RSLICER_FAULT

  // The trainer's points (`step` counts from 0, as Trainer::steps_done).
  torch::Tensor on_loss(std::int64_t step, const torch::Tensor& loss) const;  // nan_loss
  void after_forward(int rank, std::int64_t step) const;                      // kill_in_step, hang_in_step
  void slow_down(int rank, std::chrono::steady_clock::time_point since) const;  // slow_rank
  // The checkpoint writer's point (`step`: the checkpoint's step, as in its directory name).
  void after_shard_written(int rank, std::int64_t step) const;                // kill_in_save

 private:
  enum class Kind { none, nan_loss, kill_in_step, hang_in_step, slow_rank, kill_in_save };
  Kind kind_ = Kind::none;
  int rank_ = -1;
  std::int64_t step_ = -1;  // as written in the spec (from 1)
  double factor_ = 1;
};

}  // namespace rslicer::train
