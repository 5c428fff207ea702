// One Communicator over two backends, chosen per collective by where its tensors live, as c10d's ProcessGroup
// with "cpu:gloo,cuda:nccl": host tensors go to the host backend (MPI), device tensors to the device backend
// (NCCL; without it dist/staging_communicator.h does both jobs over MPI alone). A trainer on a GPU thus keeps its small host
// exchanges (stop flags, step counts, the batch balancer's pace) on MPI while its gradients and embeddings move
// on the device backend; the code that calls it does not change.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "dist/communicator.h"

namespace rslicer::dist {

class PerDeviceCommunicator : public Communicator {
 public:
  // Both over the same ranks in the same order.
  PerDeviceCommunicator(Communicator& host, Communicator& device);

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
  double seconds_waiting() const override;  // both backends' waits

 private:
  Communicator& host_;
  Communicator& device_;
  // The backend for a collective over `tensors`: all on the host, or all on one device (an Error otherwise).
  Communicator& backend(const std::vector<const torch::Tensor*>& tensors, const char* op);
};

}  // namespace rslicer::dist
