// The callbacks of `rslicer pretrain`'s loop (train/fit.h): each one piece of what a run does between steps.
//   StopAndCheckpoint  stop signals (SIGTERM, SIGUSR1), train.stop_after_steps, step- and time-based checkpoints
//                      and the final one; every rank stops and saves at the same step
//   Rebalance          train.balance: the global batch's split follows the ranks' pace (train/batch_balancer.h)
//   Progress           metrics.jsonl, the progress line (step, losses, rate, ETA) and validation when due
#pragma once

#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>

#include "data/loader.h"
#include "dist/mpi_context.h"
#include "train/batch_balancer.h"
#include "train/checkpoint.h"
#include "train/fit.h"
#include "train/pretrain_config.h"

namespace rslicer::train {

// Installs the SIGTERM/SIGUSR1 handlers for its lifetime (the previous ones restored after); received() is the
// last signal caught, 0 if none. A signal handler may only set a lock-free atomic, hence one per process.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  int received() const;

 private:
  struct Saved;
  std::unique_ptr<Saved> saved_;
};

class StopAndCheckpoint : public Callback {
 public:
  struct Parts {
    CheckpointWriter& checkpoints;
    Trainer& trainer;
    data::WindowLoader& loader;
    data::WindowLoader& val_loader;
    const StopSignals& signals;
    const dist::MpiContext& mpi;
    dist::Communicator& comm;
  };
  // `loss_tail`: the last losses (a resumed run's from its checkpoint); `balancer` (train.balance, else null): its
  // state and the loader's split schedule go into the checkpoints.
  StopAndCheckpoint(Parts parts, const StepLoopOptions& options, std::deque<double> loss_tail,
                    const BatchBalancer* balancer);
  Stop before_step(std::int64_t step) override;
  Stop after_step(const StepDone& done) override;
  void on_end(const FitResult& result) override;

 private:
  Parts p_;
  StepLoopOptions options_;
  std::deque<double> loss_tail_;
  const BatchBalancer* balancer_;
  std::int64_t first_step_ = -1;
  void save();
};

class Rebalance : public Callback {
 public:
  Rebalance(BatchBalancer& balancer, data::WindowLoader& loader, dist::Communicator& comm, const dist::MpiContext& mpi,
            std::int64_t grad_accum)
      : balancer_(balancer), loader_(loader), comm_(comm), mpi_(mpi), grad_accum_(grad_accum) {}
  Stop after_step(const StepDone& done) override;

 private:
  BatchBalancer& balancer_;
  data::WindowLoader& loader_;
  dist::Communicator& comm_;
  const dist::MpiContext& mpi_;
  std::int64_t grad_accum_;
};

class Progress : public Callback {
 public:
  // Rank 0 writes <run dir>/metrics.jsonl; `show_split`: each line carries the step's windows per rank.
  Progress(Trainer& trainer, data::WindowLoader& val_loader, const std::filesystem::path& run_dir,
           const dist::MpiContext& mpi, const StepLoopOptions& options, bool show_split);
  Stop after_step(const StepDone& done) override;

 private:
  Trainer& trainer_;
  data::WindowLoader& val_loader_;
  const dist::MpiContext& mpi_;
  StepLoopOptions options_;
  bool show_split_;
  std::unique_ptr<std::ofstream> metrics_;  // rank 0
  double validation_loss();
};

std::string duration_text(double seconds);

}  // namespace rslicer::train
