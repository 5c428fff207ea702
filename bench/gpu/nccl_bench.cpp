// All-reduce bandwidth of our NCCL communicator (src/dist/nccl_communicator.h), as nccl-tests reports it:
// algbw = bytes / time, busbw = algbw * 2 (n - 1) / n. bench/reference/nccl_allreduce.py measures
// torch.distributed (backend nccl) with the same sizes on the same GPUs. Under mpirun, one GPU per rank.
//
//   mpirun -np N nccl_bench [ITERATIONS]
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "dist/mpi_context.h"
#include "dist/nccl_communicator.h"

using namespace rslicer;

int main(int argc, char** argv) {
  dist::MpiContext mpi(&argc, &argv);
  const int iterations = argc > 1 ? std::stoi(argv[1]) : 50;
  const int gpus = dist::cuda_device_count();
  if (gpus == 0) {
    std::fprintf(stderr, "error: no CUDA device, nccl_bench needs one\n");
    return 1;
  }
  dist::NcclCommunicator comm(mpi, mpi.local_rank() % gpus, std::chrono::seconds(120));
  cudaStream_t stream;
  cudaStreamCreate(&stream);
  for (std::size_t mib : {1, 8, 64, 256, 1024}) {
    const std::size_t count = mib * (1 << 20) / sizeof(float);
    float* buffer = nullptr;
    cudaMalloc(&buffer, count * sizeof(float));
    cudaMemset(buffer, 0, count * sizeof(float));
    for (int i = 0; i < 5; ++i) comm.allreduce(buffer, count, dist::DeviceDType::f32, dist::ReduceOp::sum, stream)->wait(stream);
    cudaStreamSynchronize(stream);
    mpi.barrier();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i)
      comm.allreduce(buffer, count, dist::DeviceDType::f32, dist::ReduceOp::sum, stream)->wait(stream);
    cudaStreamSynchronize(stream);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iterations;
    const double bytes = static_cast<double>(count * sizeof(float)), n = comm.world_size();
    const double algbw = bytes / seconds / 1e9;
    if (mpi.is_root())
      std::printf("{\"impl\": \"rslicer\", \"ranks\": %d, \"mib\": %zu, \"time_us\": %.1f, \"algbw_gbs\": %.1f, \"busbw_gbs\": %.1f}\n",
                  comm.world_size(), mib, seconds * 1e6, algbw, algbw * 2 * (n - 1) / n);
    cudaFree(buffer);
  }
  cudaStreamDestroy(stream);
  return 0;
}
