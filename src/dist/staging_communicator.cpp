#include "dist/staging_communicator.h"

#include <utility>

namespace rslicer::dist {

namespace {

torch::TensorOptions host_options(const torch::Tensor& tensor) {
  return torch::TensorOptions().dtype(tensor.scalar_type()).device(torch::kCPU).pinned_memory(tensor.is_cuda());
}

// The host collective's work, then the copies of its results into the caller's tensors (once, at the first wait
// or the first done() that finds it finished).
class StagedWork : public Work {
 public:
  StagedWork(std::shared_ptr<Work> host, std::function<void()> copy_back)
      : host_(std::move(host)), copy_back_(std::move(copy_back)) {}
  void wait() override {
    host_->wait();
    finish();
  }
  bool done() override {
    if (!host_->done()) return false;
    finish();
    return true;
  }

 private:
  std::shared_ptr<Work> host_;
  std::function<void()> copy_back_;
  void finish() {
    if (!copy_back_) return;
    copy_back_();
    copy_back_ = nullptr;  // drops the staged buffers
  }
};

// The copy of a staged result into the caller's tensor (which may be a view, hence copy_ and not assignment).
std::function<void()> copy_into(torch::Tensor target, torch::Tensor staged) {
  return [target, staged]() mutable {
    torch::NoGradGuard no_grad;
    target.copy_(staged);
  };
}

}  // namespace

torch::Tensor stage_on_host(const torch::Tensor& tensor) {
  torch::Tensor host = host_like(tensor);
  host.copy_(tensor);
  return host;
}

torch::Tensor host_like(const torch::Tensor& tensor) { return torch::empty(tensor.sizes(), host_options(tensor)); }

std::shared_ptr<Work> StagingCommunicator::allreduce(torch::Tensor& tensor, ReduceOp op) {
  if (!staged(tensor)) return host_.allreduce(tensor, op);
  torch::Tensor staged = stage_on_host(tensor);
  return std::make_shared<StagedWork>(host_.allreduce(staged, op), copy_into(tensor, staged));
}

std::shared_ptr<Work> StagingCommunicator::allgather(const torch::Tensor& input, torch::Tensor& output) {
  if (!staged(input)) return host_.allgather(input, output);
  torch::Tensor staged_output = host_like(output);
  return std::make_shared<StagedWork>(host_.allgather(stage_on_host(input), staged_output),
                                      copy_into(output, staged_output));
}

std::shared_ptr<Work> StagingCommunicator::allgather(const torch::Tensor& input, torch::Tensor& output,
                                                     const std::vector<std::int64_t>& counts) {
  if (!staged(input)) return host_.allgather(input, output, counts);
  torch::Tensor staged_output = host_like(output);
  return std::make_shared<StagedWork>(host_.allgather(stage_on_host(input), staged_output, counts),
                                      copy_into(output, staged_output));
}

std::shared_ptr<Work> StagingCommunicator::allgather_in_place(torch::Tensor& buffer,
                                                              const std::vector<std::int64_t>& counts) {
  if (!staged(buffer)) return host_.allgather_in_place(buffer, counts);
  torch::Tensor staged = stage_on_host(buffer);
  return std::make_shared<StagedWork>(host_.allgather_in_place(staged, counts), copy_into(buffer, staged));
}

std::shared_ptr<Work> StagingCommunicator::reduce_scatter(const torch::Tensor& input, torch::Tensor& output) {
  if (!staged(input)) return host_.reduce_scatter(input, output);
  torch::Tensor staged_output = host_like(output);
  return std::make_shared<StagedWork>(host_.reduce_scatter(stage_on_host(input), staged_output),
                                      copy_into(output, staged_output));
}

std::shared_ptr<Work> StagingCommunicator::reduce_scatter(const torch::Tensor& input, torch::Tensor& output,
                                                          const std::vector<std::int64_t>& counts, ReduceOp op) {
  if (!staged(input)) return host_.reduce_scatter(input, output, counts, op);
  torch::Tensor staged_output = host_like(output);
  return std::make_shared<StagedWork>(host_.reduce_scatter(stage_on_host(input), staged_output, counts, op),
                                      copy_into(output, staged_output));
}

std::shared_ptr<Work> StagingCommunicator::alltoall(const torch::Tensor& input, torch::Tensor& output,
                                                    const std::vector<std::int64_t>& send_counts,
                                                    const std::vector<std::int64_t>& send_offsets,
                                                    const std::vector<std::int64_t>& recv_counts) {
  if (!staged(input)) return host_.alltoall(input, output, send_counts, send_offsets, recv_counts);
  torch::Tensor staged_output = host_like(output);
  return std::make_shared<StagedWork>(
      host_.alltoall(stage_on_host(input), staged_output, send_counts, send_offsets, recv_counts),
      copy_into(output, staged_output));
}

std::shared_ptr<Work> StagingCommunicator::broadcast(torch::Tensor& tensor, int root) {
  if (!staged(tensor)) return host_.broadcast(tensor, root);
  torch::Tensor staged = stage_on_host(tensor);
  return std::make_shared<StagedWork>(host_.broadcast(staged, root), copy_into(tensor, staged));
}

}  // namespace rslicer::dist
