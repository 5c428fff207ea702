#include "dist/per_device_communicator.h"

#include "core/error.h"

namespace rslicer::dist {

PerDeviceCommunicator::PerDeviceCommunicator(Communicator& host, Communicator& device) : host_(host), device_(device) {
  if (host.rank() != device.rank() || host.world_size() != device.world_size())
    throw Error("a device backend of rank " + std::to_string(device.rank()) + " of " +
                    std::to_string(device.world_size()) + " beside a host backend of rank " +
                    std::to_string(host.rank()) + " of " + std::to_string(host.world_size()),
                "dist::PerDeviceCommunicator", "both backends over the same ranks");
}

Communicator& PerDeviceCommunicator::backend(const std::vector<const torch::Tensor*>& tensors, const char* op) {
  const torch::Device first = tensors.front()->device();
  for (const torch::Tensor* t : tensors)
    if (t->device() != first)
      throw Error(std::string(op) + " over tensors on " + first.str() + " and " + t->device().str(),
                  "dist::PerDeviceCommunicator", "every tensor of a collective on one device");
  return first.is_cpu() ? host_ : device_;
}

double PerDeviceCommunicator::seconds_waiting() const { return host_.seconds_waiting() + device_.seconds_waiting(); }

std::shared_ptr<Work> PerDeviceCommunicator::allreduce(torch::Tensor& tensor, ReduceOp op) {
  return backend({&tensor}, "allreduce").allreduce(tensor, op);
}

std::shared_ptr<Work> PerDeviceCommunicator::allgather(const torch::Tensor& input, torch::Tensor& output) {
  return backend({&input, &output}, "allgather").allgather(input, output);
}

std::shared_ptr<Work> PerDeviceCommunicator::allgather(const torch::Tensor& input, torch::Tensor& output,
                                                       const std::vector<std::int64_t>& counts) {
  return backend({&input, &output}, "allgather").allgather(input, output, counts);
}

std::shared_ptr<Work> PerDeviceCommunicator::allgather_in_place(torch::Tensor& buffer,
                                                                const std::vector<std::int64_t>& counts) {
  return backend({&buffer}, "allgather_in_place").allgather_in_place(buffer, counts);
}

std::shared_ptr<Work> PerDeviceCommunicator::reduce_scatter(const torch::Tensor& input, torch::Tensor& output) {
  return backend({&input, &output}, "reduce_scatter").reduce_scatter(input, output);
}

std::shared_ptr<Work> PerDeviceCommunicator::reduce_scatter(const torch::Tensor& input, torch::Tensor& output,
                                                            const std::vector<std::int64_t>& counts, ReduceOp op) {
  return backend({&input, &output}, "reduce_scatter").reduce_scatter(input, output, counts, op);
}

std::shared_ptr<Work> PerDeviceCommunicator::alltoall(const torch::Tensor& input, torch::Tensor& output,
                                                      const std::vector<std::int64_t>& send_counts,
                                                      const std::vector<std::int64_t>& send_offsets,
                                                      const std::vector<std::int64_t>& recv_counts) {
  return backend({&input, &output}, "alltoall").alltoall(input, output, send_counts, send_offsets, recv_counts);
}

std::shared_ptr<Work> PerDeviceCommunicator::broadcast(torch::Tensor& tensor, int root) {
  return backend({&tensor}, "broadcast").broadcast(tensor, root);
}

}  // namespace rslicer::dist
