// Where a rank trains and how its tensors travel between ranks: the one place that turns train.trainer.device and
// dist.backend into a torch device and a communicator; the trainer, the losses and the step loop take what it
// chooses and do not branch on the device.
//
//   device  dist.backend         communicator
//   cpu     (any)                MPI
//   cuda    auto, NCCL built,    NCCL for device tensors, MPI for host ones (dist/per_device_communicator.h)
//           one GPU a rank
//   cuda    nccl                 the same, or an error naming why it cannot be
//   cuda    auto otherwise, mpi  MPI, device tensors staged through pinned host memory
//                                (dist/staging_communicator.h): CUDA without NCCL, several ranks on one GPU
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>

#include "dist/communicator.h"
#include "dist/mpi_context.h"

namespace rslicer::train {

// The torch device of this rank for train.trainer.device: "cpu", or "cuda": GPU (local rank mod visible GPUs),
// which is GPU 0 under launch/rank_env.sh (one visible GPU a rank). A ConfigError when this build or this machine
// cannot train there.
torch::Device training_device(const std::string& name, const dist::MpiContext& mpi);

// Whether this build has the CUDA training path (CMake RSLICER_CUDA), and why not when it has not.
bool cuda_training_built();
std::string cuda_training_reason();

class TrainingCommunicator {
 public:
  // `host`: the MPI backend, over every rank; `backend`: dist.backend (auto | mpi | nccl).
  TrainingCommunicator(torch::Device device, const std::string& backend, dist::Communicator& host,
                       const dist::MpiContext& mpi, std::chrono::milliseconds timeout);
  dist::Communicator& get() { return *used_; }
  const std::string& description() const { return description_; }

 private:
  std::unique_ptr<dist::Communicator> device_backend_, per_device_;
  dist::Communicator* used_ = nullptr;
  std::string description_;
};

}  // namespace rslicer::train
