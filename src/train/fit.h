// The training loop as a trainer's fit(loader, callbacks), after PyTorch Lightning's and torchtitan's loops: the
// loop draws grad_accum micro-batches a step from the loader, runs Trainer::step, all-reduces the step's windows
// and tokens, and hands the step to its callbacks; everything else a run does between steps (stop signals and
// checkpoints, the batch balancer, metrics, progress and validation) is a callback (train/callbacks.h).
// Every rank calls the same callbacks in the same order, so their collectives match.
#pragma once

#include <cstdint>
#include <vector>

#include "data/loader.h"
#include "train/trainer.h"

namespace rslicer::train {

enum class Stop { no, signal, early };  // early: train.stop_after_steps

// A finished step as the callbacks see it.
struct StepDone {
  std::int64_t step = 0;  // 0-based; steps done = step + 1
  std::int64_t max_steps = 0;
  const StepStats& stats;
  const std::vector<data::Batch>& micro_batches;
  double windows = 0, tokens = 0;  // over every rank
  double elapsed_seconds = 0;      // since fit() began
  std::int64_t first_step = 0;     // the step fit() began at (a resumed run's)
};

struct FitResult {
  std::int64_t steps = 0;  // steps done at the end
  double first_loss = 0, last_loss = 0;
  Stop stopped = Stop::no;
  double seconds = 0, tokens = 0;  // this fit's wall time and tokens over every rank
};

class Callback {
 public:
  virtual ~Callback() = default;
  // Before step `step`; a Stop other than no ends the run before it.
  virtual Stop before_step(std::int64_t step) { return Stop::no; }
  // After a step; a Stop other than no ends the run after it.
  virtual Stop after_step(const StepDone& done) { return Stop::no; }
  // Once, after the last step run.
  virtual void on_end(const FitResult& result) {}
};

// Runs `trainer` from its steps done to its options' max_steps over `loader` (grad_accum micro-batches a step),
// the step's counts all-reduced over the trainer's communicator.
FitResult fit(Trainer& trainer, data::WindowLoader& loader, const std::vector<Callback*>& callbacks);

}  // namespace rslicer::train
