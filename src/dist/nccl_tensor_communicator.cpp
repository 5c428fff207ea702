#include "dist/nccl_tensor_communicator.h"

#include "core/error.h"

namespace rslicer::dist {

namespace {

constexpr cudaStream_t kLegacyStream = nullptr;  // LibTorch's default stream

class NcclTensorWork : public Work {
 public:
  NcclTensorWork(std::shared_ptr<NcclWork> work, std::vector<torch::Tensor> keep_alive, std::shared_ptr<double> waited)
      : work_(std::move(work)), keep_alive_(std::move(keep_alive)), waited_(std::move(waited)) {}
  void wait() override {
    const auto t0 = std::chrono::steady_clock::now();
    if (work_) work_->synchronize();
    *waited_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    keep_alive_.clear();
  }
  bool done() override { return !work_ || work_->done(); }

 private:
  std::shared_ptr<NcclWork> work_;
  std::vector<torch::Tensor> keep_alive_;  // the buffers the collective reads and writes
  std::shared_ptr<double> waited_;
};

std::vector<std::int64_t> offsets_of(const std::vector<std::int64_t>& counts) {
  std::vector<std::int64_t> offsets(counts.size(), 0);
  for (std::size_t r = 1; r < counts.size(); ++r) offsets[r] = offsets[r - 1] + counts[r - 1];
  return offsets;
}

std::size_t bytes_of(const torch::Tensor& t) { return static_cast<std::size_t>(t.element_size()); }

}  // namespace

DeviceDType nccl_dtype_of(const torch::Tensor& tensor, const std::string& what) {
  if (!tensor.is_cuda() || !tensor.is_contiguous())
    throw Error("a " + std::string(tensor.is_cuda() ? "non-contiguous" : "host") + " tensor", what,
                "a contiguous CUDA tensor (the MPI communicator takes host tensors)");
  switch (tensor.scalar_type()) {
    case torch::kFloat32: return DeviceDType::f32;
    case torch::kFloat64: return DeviceDType::f64;
    case torch::kBFloat16: return DeviceDType::bf16;
    case torch::kFloat16: return DeviceDType::f16;
    case torch::kInt64: return DeviceDType::i64;
    default:
      throw Error(std::string("dtype ") + c10::toString(tensor.scalar_type()), what,
                  "float32, float64, bfloat16, float16 or int64");
  }
}

namespace {
// `device`, once LibTorch is known to have CUDA (checked before NcclCommunicator opens the device).
int cuda_torch_device(int device) {
  if (!torch::cuda::is_available())
    throw Error("LibTorch without CUDA, or no GPU", "dist::NcclTensorCommunicator",
                "a CUDA LibTorch (RSLICER_CUDA) and a GPU for the NCCL backend");
  return device;
}
}  // namespace

NcclTensorCommunicator::NcclTensorCommunicator(const MpiContext& mpi, int device, std::chrono::milliseconds timeout)
    : nccl_(mpi, cuda_torch_device(device), timeout) {}

std::shared_ptr<Work> NcclTensorCommunicator::wrap(std::shared_ptr<NcclWork> work, std::vector<torch::Tensor> keep_alive) {
  return std::make_shared<NcclTensorWork>(std::move(work), std::move(keep_alive), seconds_waiting_);
}

std::shared_ptr<Work> NcclTensorCommunicator::allreduce(torch::Tensor& tensor, ReduceOp op) {
  const DeviceDType type = nccl_dtype_of(tensor, "allreduce");
  return wrap(nccl_.allreduce(tensor.data_ptr(), static_cast<std::size_t>(tensor.numel()), type, op, kLegacyStream),
              {tensor});
}

std::shared_ptr<Work> NcclTensorCommunicator::allgather(const torch::Tensor& input, torch::Tensor& output) {
  const DeviceDType type = nccl_dtype_of(input, "allgather");
  nccl_dtype_of(output, "allgather");
  return wrap(nccl_.allgather(input.data_ptr(), output.data_ptr(), static_cast<std::size_t>(input.numel()), type,
                              kLegacyStream),
              {input, output});
}

std::shared_ptr<NcclWork> NcclTensorCommunicator::broadcast_parts(const std::string& what, const void* mine,
                                                                   torch::Tensor& output,
                                                                   const std::vector<std::int64_t>& counts) {
  // Rank r's part (counts[r] elements) broadcast from r into its place in `output`: one NCCL group. The send
  // buffer is read on the root only, so `mine` (null: in place, the part already at its place) serves every r.
  const DeviceDType type = nccl_dtype_of(output, what);
  const auto offsets = offsets_of(counts);
  char* base = static_cast<char*>(output.data_ptr());
  const std::int64_t element = static_cast<std::int64_t>(bytes_of(output));
  return nccl_.group(what, kLegacyStream, [&] {
    for (int r = 0; r < world_size(); ++r) {
      const auto at = static_cast<std::size_t>(r);
      if (counts[at] == 0) continue;
      char* place = base + offsets[at] * element;
      nccl_.broadcast(mine ? mine : place, place, static_cast<std::size_t>(counts[at]), type, r, kLegacyStream);
    }
  });
}

std::shared_ptr<Work> NcclTensorCommunicator::allgather(const torch::Tensor& input, torch::Tensor& output,
                                                        const std::vector<std::int64_t>& counts) {
  nccl_dtype_of(input, "allgather (uneven)");
  return wrap(broadcast_parts("allgather (uneven)", input.data_ptr(), output, counts), {input, output});
}

std::shared_ptr<Work> NcclTensorCommunicator::allgather_in_place(torch::Tensor& buffer,
                                                                 const std::vector<std::int64_t>& counts) {
  return wrap(broadcast_parts("allgather (in place)", nullptr, buffer, counts), {buffer});
}

std::shared_ptr<Work> NcclTensorCommunicator::reduce_scatter(const torch::Tensor& input, torch::Tensor& output) {
  const DeviceDType type = nccl_dtype_of(input, "reduce_scatter");
  nccl_dtype_of(output, "reduce_scatter");
  return wrap(nccl_.reduce_scatter(input.data_ptr(), output.data_ptr(), static_cast<std::size_t>(output.numel()), type,
                                   kLegacyStream),
              {input, output});
}

std::shared_ptr<Work> NcclTensorCommunicator::reduce_scatter(const torch::Tensor& input, torch::Tensor& output,
                                                             const std::vector<std::int64_t>& counts, ReduceOp op) {
  const DeviceDType type = nccl_dtype_of(input, "reduce_scatter (uneven)");
  nccl_dtype_of(output, "reduce_scatter (uneven)");
  const auto offsets = offsets_of(counts);
  const char* in = static_cast<const char*>(input.data_ptr());
  auto work = nccl_.group("reduce_scatter (uneven)", kLegacyStream, [&] {
    for (int r = 0; r < world_size(); ++r) {
      const auto at = static_cast<std::size_t>(r);
      if (counts[at] == 0) continue;
      nccl_.reduce(in + offsets[at] * static_cast<std::int64_t>(bytes_of(input)), output.data_ptr(),
                   static_cast<std::size_t>(counts[at]), type, op, r, kLegacyStream);
    }
  });
  return wrap(work, {input, output});
}

std::shared_ptr<Work> NcclTensorCommunicator::alltoall(const torch::Tensor& input, torch::Tensor& output,
                                                       const std::vector<std::int64_t>& send_counts,
                                                       const std::vector<std::int64_t>& send_offsets,
                                                       const std::vector<std::int64_t>& recv_counts) {
  const DeviceDType type = nccl_dtype_of(input, "alltoall");
  nccl_dtype_of(output, "alltoall");
  const auto recv_offsets = offsets_of(recv_counts);
  const std::int64_t element = static_cast<std::int64_t>(bytes_of(input));
  const char* in = static_cast<const char*>(input.data_ptr());
  char* out = static_cast<char*>(output.data_ptr());
  auto work = nccl_.group("alltoall", kLegacyStream, [&] {
    for (int r = 0; r < world_size(); ++r) {
      const auto at = static_cast<std::size_t>(r);
      if (send_counts[at] > 0)
        nccl_.send(in + send_offsets[at] * element, static_cast<std::size_t>(send_counts[at]), type, r, kLegacyStream);
      if (recv_counts[at] > 0)
        nccl_.recv(out + recv_offsets[at] * element, static_cast<std::size_t>(recv_counts[at]), type, r, kLegacyStream);
    }
  });
  return wrap(work, {input, output});
}

std::shared_ptr<Work> NcclTensorCommunicator::broadcast(torch::Tensor& tensor, int root) {
  const DeviceDType type = nccl_dtype_of(tensor, "broadcast");
  return wrap(nccl_.broadcast(tensor.data_ptr(), static_cast<std::size_t>(tensor.numel()), type, root, kLegacyStream),
              {tensor});
}

void NcclTensorCommunicator::barrier() {
  torch::Tensor one = torch::ones({1}, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA, nccl_.device()));
  allreduce(one, ReduceOp::sum)->wait();
}

}  // namespace rslicer::dist
