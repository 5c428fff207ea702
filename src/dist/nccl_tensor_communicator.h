// The NCCL backend behind the Communicator interface (dist/communicator.h), for CUDA tensors, as c10d puts
// ProcessGroupNCCL beside ProcessGroupGloo: the reducer, all_gather_with_grad, ZeRO-1's reduce-scatter and
// all-gather and the sparse rows' exchange run on it unchanged. Built on NcclCommunicator (raw device pointers);
// collectives are queued after the legacy default stream (the stream LibTorch uses unless told otherwise), and
// Work::wait() blocks the host under the watchdog, as the MPI backend's does, so that a caller may read the result
// at once. The uneven collectives are NCCL groups: all-gather(v) as one broadcast per rank, reduce-scatter(v) as
// one reduce per rank, the personalised exchange as sends and receives. Runs only where LibTorch has CUDA and
// a GPU is present; its test skips otherwise (tests/dist/test_nccl.cpp).
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>

#include "dist/communicator.h"
#include "dist/nccl_communicator.h"

namespace rslicer::dist {

class NcclTensorCommunicator : public Communicator {
 public:
  // One GPU a rank: `device` is its CUDA index. Throws (one line) without a CUDA LibTorch or a GPU.
  NcclTensorCommunicator(const MpiContext& mpi, int device, std::chrono::milliseconds timeout);

  int rank() const override { return nccl_.rank(); }
  int world_size() const override { return nccl_.world_size(); }
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
  void barrier() override;
  double seconds_waiting() const override { return *seconds_waiting_; }

 private:
  NcclCommunicator nccl_;
  std::shared_ptr<double> seconds_waiting_ = std::make_shared<double>(0.0);  // shared with the work handles
  std::shared_ptr<Work> wrap(std::shared_ptr<NcclWork> work, std::vector<torch::Tensor> keep_alive);
  // The uneven all-gathers: every rank's part of `output` broadcast from its rank (`mine`: this rank's part to
  // send; null when it is already at its place in `output`).
  std::shared_ptr<NcclWork> broadcast_parts(const std::string& what, const void* mine, torch::Tensor& output,
                                            const std::vector<std::int64_t>& counts);
};

// The NCCL type of a tensor's dtype (float32, float64, bfloat16, float16, int64); an Error naming `what` otherwise,
// or when the tensor is not a contiguous CUDA tensor.
DeviceDType nccl_dtype_of(const torch::Tensor& tensor, const std::string& what);

}  // namespace rslicer::dist
