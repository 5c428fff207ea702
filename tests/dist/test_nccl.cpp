// The NCCL communicator on real GPUs, under mpirun (one GPU per rank, or ranks sharing one). Skips, printing why,
// where there is no CUDA device (CI machines build it against the toolkit alone).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "core/error.h"
#include "dist/mpi_context.h"
#include "dist/nccl_communicator.h"
#include "dist/nccl_tensor_communicator.h"
#include "mpi_test_main.h"

using namespace rslicer;

namespace {

template <typename T>
struct DeviceBuffer {  // RAII device memory
  T* data = nullptr;
  std::size_t n = 0;
  explicit DeviceBuffer(std::size_t count) : n(count) { cudaMalloc(&data, count * sizeof(T)); }
  ~DeviceBuffer() { cudaFree(data); }
  void upload(const std::vector<T>& v) { cudaMemcpy(data, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice); }
  std::vector<T> download() const {
    std::vector<T> v(n);
    cudaMemcpy(v.data(), data, n * sizeof(T), cudaMemcpyDeviceToHost);
    return v;
  }
};
}  // namespace

TEST(Nccl, CollectivesMatchTheirDefinitions) {
  const int gpus = dist::cuda_device_count();
  if (gpus == 0) GTEST_SKIP() << "no CUDA device on this machine: the NCCL communicator is built, not run";
  const auto& mpi = test::mpi();
  dist::NcclCommunicator comm(mpi, mpi.local_rank() % gpus, std::chrono::seconds(60));
  const int r = comm.rank(), w = comm.world_size();
  cudaStream_t stream;
  cudaStreamCreate(&stream);
  const std::size_t n = 1000;

  DeviceBuffer<float> a(n);
  a.upload(std::vector<float>(n, static_cast<float>(r + 1)));
  comm.allreduce(a.data, n, dist::DeviceDType::f32, dist::ReduceOp::sum, stream)->synchronize();
  for (float v : a.download()) ASSERT_EQ(v, static_cast<float>(w * (w + 1) / 2));

  DeviceBuffer<float> mine(n), all(n * static_cast<std::size_t>(w));
  mine.upload(std::vector<float>(n, static_cast<float>(r)));
  comm.allgather(mine.data, all.data, n, dist::DeviceDType::f32, stream)->synchronize();
  auto gathered = all.download();
  for (int k = 0; k < w; ++k) ASSERT_EQ(gathered[static_cast<std::size_t>(k) * n], static_cast<float>(k));

  DeviceBuffer<float> out(n);
  comm.reduce_scatter(all.data, out.data, n, dist::DeviceDType::f32, stream)->synchronize();
  for (float v : out.download()) ASSERT_EQ(v, static_cast<float>(w * r));

  DeviceBuffer<float> b(n);
  b.upload(std::vector<float>(n, r == 0 ? 7.0f : 0.0f));
  auto work = comm.group("two", stream, [&] {
    comm.broadcast(b.data, n, dist::DeviceDType::f32, 0, stream);
    comm.allreduce(a.data, n, dist::DeviceDType::f32, dist::ReduceOp::avg, stream);
  });
  work->wait(stream);  // the stream, not the host, waits
  cudaStreamSynchronize(stream);
  for (float v : b.download()) ASSERT_EQ(v, 7.0f);
  cudaStreamDestroy(stream);
}

// The Communicator interface on CUDA tensors: each collective against its definition, the uneven ones included
// (what the reducer, ZeRO-1 and the rows' exchange call).
TEST(NcclTensorCommunicator, CollectivesMatchTheirDefinitions) {
  const int gpus = dist::cuda_device_count();
  if (gpus == 0) GTEST_SKIP() << "no CUDA device on this machine: the NCCL tensor communicator is built, not run";
  if (!torch::cuda::is_available()) GTEST_SKIP() << "LibTorch without CUDA: the NCCL tensor communicator is built, not run";
  const auto& mpi = test::mpi();
  dist::NcclTensorCommunicator comm(mpi, mpi.local_rank() % gpus, std::chrono::seconds(60));
  const int r = comm.rank(), w = comm.world_size();
  const auto cuda = torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA, mpi.local_rank() % gpus);

  torch::Tensor a = torch::full({5}, static_cast<float>(r + 1), cuda);
  comm.allreduce(a, dist::ReduceOp::avg)->wait();
  EXPECT_TRUE(torch::allclose(a.cpu(), torch::full({5}, (w + 1) / 2.0f)));

  // Uneven all-gather: rank q sends q + 1 elements of value q.
  std::vector<std::int64_t> counts;
  for (int q = 0; q < w; ++q) counts.push_back(q + 1);
  const std::int64_t total = w * (w + 1) / 2;
  torch::Tensor mine = torch::full({r + 1}, static_cast<float>(r), cuda), all = torch::empty({total}, cuda);
  comm.allgather(mine, all, counts)->wait();
  torch::Tensor expected = torch::empty({total});
  for (int q = 0, at = 0; q < w; at += q + 1, ++q) expected.narrow(0, at, q + 1).fill_(static_cast<float>(q));
  EXPECT_TRUE(torch::equal(all.cpu(), expected));

  // In place: each rank's part is already at its place.
  torch::Tensor buffer = torch::zeros({total}, cuda);
  const std::int64_t start = r * (r + 1) / 2;
  buffer.narrow(0, start, r + 1).fill_(static_cast<float>(r));
  comm.allgather_in_place(buffer, counts)->wait();
  EXPECT_TRUE(torch::equal(buffer.cpu(), expected));

  // Uneven reduce-scatter (sum): every rank contributes ones; rank r receives counts[r] elements of w.
  torch::Tensor ones = torch::ones({total}, cuda), part = torch::empty({r + 1}, cuda);
  comm.reduce_scatter(ones, part, counts, dist::ReduceOp::sum)->wait();
  EXPECT_TRUE(torch::equal(part.cpu(), torch::full({r + 1}, static_cast<float>(w))));

  // Personalised exchange: rank r sends one element r * 10 + q to each rank q.
  torch::Tensor send = torch::empty({w}, cuda);
  for (int q = 0; q < w; ++q) send[q] = static_cast<float>(r * 10 + q);
  std::vector<std::int64_t> one(static_cast<std::size_t>(w), 1), offsets;
  for (int q = 0; q < w; ++q) offsets.push_back(q);
  torch::Tensor received = torch::empty({w}, cuda);
  comm.alltoall(send, received, one, offsets, one)->wait();
  for (int q = 0; q < w; ++q) EXPECT_EQ(received[q].item<float>(), static_cast<float>(q * 10 + r));

  // Host tensors are refused with one line.
  torch::Tensor host = torch::ones({2});
  EXPECT_THROW(comm.allreduce(host, dist::ReduceOp::sum), rslicer::Error);
  comm.barrier();
}
