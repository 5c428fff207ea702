// The NCCL communicator on real GPUs, under mpirun (one GPU per rank, or ranks sharing one). Skips, printing why,
// where there is no CUDA device (CI machines build it against the toolkit alone).
#include <gtest/gtest.h>

#include <vector>

#include "dist/mpi_context.h"
#include "dist/nccl_communicator.h"
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
