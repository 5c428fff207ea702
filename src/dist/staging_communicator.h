// Collectives on device tensors through a host backend, for CUDA without NCCL and for several ranks sharing one
// GPU (NCCL refuses two ranks on one device): each collective copies its device tensors to pinned host memory,
// runs on the host backend (MPI), and its Work copies the results back into the device tensors when waited on,
// as torch.distributed does with Gloo on CUDA tensors. Host tensors go to the host backend as they are (the
// trainer's stop flags and counts); with Stage::every_tensor they are staged through a copy too, so that the
// staging path is tested on the CPU against the host backend itself (tests/dist/test_mpi_communicator.cpp).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "dist/communicator.h"

namespace rslicer::dist {

class StagingCommunicator : public Communicator {
 public:
  enum class Stage { device_tensors, every_tensor };
  explicit StagingCommunicator(Communicator& host, Stage stage = Stage::device_tensors) : host_(host), stage_(stage) {}

  int rank() const override { return host_.rank(); }
  int world_size() const override { return host_.world_size(); }
  std::shared_ptr<Work> allreduce(torch::Tensor& tensor, ReduceOp op) override;
  std::shared_ptr<Work> allgather(const torch::Tensor& input, torch::Tensor& output) override;
  std::shared_ptr<Work> allgather(const torch::Tensor& input, torch::Tensor& output,
                                  const std::vector<std::int64_t>& counts) override;
  std::shared_ptr<Work> allgather_in_place(torch::Tensor& buffer, const std::vector<std::int64_t>& counts) override;
  std::shared_ptr<Work> reduce_scatter(const torch::Tensor& input, torch::Tensor& output) override;
  std::shared_ptr<Work> reduce_scatter(const torch::Tensor& input, torch::Tensor& output,
                                       const std::vector<std::int64_t>& counts, ReduceOp op) override;
  std::shared_ptr<Work> alltoall(const torch::Tensor& input, torch::Tensor& output,
                                 const std::vector<std::int64_t>& send_counts, const std::vector<std::int64_t>& send_offsets,
                                 const std::vector<std::int64_t>& recv_counts) override;
  std::shared_ptr<Work> broadcast(torch::Tensor& tensor, int root) override;
  void barrier() override { host_.barrier(); }
  double seconds_waiting() const override { return host_.seconds_waiting(); }  // the staged waits are the host's

 private:
  Communicator& host_;
  Stage stage_;
  bool staged(const torch::Tensor& tensor) const { return stage_ == Stage::every_tensor || !tensor.is_cpu(); }
};

// A host copy of `tensor` (contiguous; in pinned memory when `tensor` is on a CUDA device, so that the copies
// back and forth are direct DMA transfers).
torch::Tensor stage_on_host(const torch::Tensor& tensor);
// An uninitialised host tensor shaped and typed as `tensor` (pinned for a CUDA tensor).
torch::Tensor host_like(const torch::Tensor& tensor);

}  // namespace rslicer::dist
