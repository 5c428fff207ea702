// NCCL collectives on device buffers (docs/design.md §5), after PyTorch's ProcessGroupNCCL: the ncclUniqueId is broadcast
// over MPI; every collective runs on the communicator's own stream, ordered after the caller's stream with an
// event; its Work's wait() makes the caller's stream wait for the collective's completion event (no host sync), and
// synchronize() blocks the host. The watchdog: a collective not complete within the timeout aborts the
// communicator (ncclCommAbort) and the job, naming the operation and the rank. Several collectives can be issued
// as one NCCL group (a gradient bucket's pieces). GPU = the local rank (launch/rank_env.sh sets
// CUDA_VISIBLE_DEVICES).
//
// Written against raw device pointers and cudaStream_t so that it builds with the CUDA toolkit alone (Debian's
// LibTorch is CPU-only); the tests skip without a GPU.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "dist/reduce_op.h"
#include "dist/mpi_context.h"

namespace rslicer::dist {

enum class DeviceDType { f32, bf16, f16, i64, f64 };

// CUDA devices visible to this process; 0 without a driver or GPU (never throws).
int cuda_device_count();
// The PCI bus id of visible device `device` ("0000:65:00.0"): the same GPU gives the same id in every process of
// a node, whatever CUDA_VISIBLE_DEVICES each one has (NCCL needs one GPU per rank).
std::string cuda_device_pci_bus_id(int device);

class NcclWork {
 public:
  NcclWork(cudaEvent_t done, std::string what, std::chrono::milliseconds timeout, int rank, ncclComm_t comm);
  ~NcclWork();
  NcclWork(const NcclWork&) = delete;
  NcclWork& operator=(const NcclWork&) = delete;
  void wait(cudaStream_t caller);  // the caller's stream waits for the collective (asynchronous for the host)
  void synchronize();              // the host waits, under the watchdog
  bool done();

 private:
  cudaEvent_t done_;
  std::string what_;
  std::chrono::steady_clock::time_point deadline_;
  int rank_;
  ncclComm_t comm_;
};

class NcclCommunicator {
 public:
  NcclCommunicator(const MpiContext& mpi, int device, std::chrono::milliseconds timeout);
  ~NcclCommunicator();
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_; }
  int device() const { return device_; }

  std::shared_ptr<NcclWork> allreduce(void* buffer, std::size_t count, DeviceDType dtype, ReduceOp op, cudaStream_t caller);
  // output [world * count] gets every rank's input [count] in rank order.
  std::shared_ptr<NcclWork> allgather(const void* input, void* output, std::size_t count, DeviceDType dtype,
                                      cudaStream_t caller);
  // output [count] gets this rank's slice of the element-wise sum of every input [world * count].
  std::shared_ptr<NcclWork> reduce_scatter(const void* input, void* output, std::size_t count, DeviceDType dtype,
                                           cudaStream_t caller);
  std::shared_ptr<NcclWork> broadcast(void* buffer, std::size_t count, DeviceDType dtype, int root, cudaStream_t caller);
  // Root's `input` [count] into every rank's `output` (out of place; `input` read on the root only).
  std::shared_ptr<NcclWork> broadcast(const void* input, void* output, std::size_t count, DeviceDType dtype, int root,
                                      cudaStream_t caller);
  // The element-wise reduction of every rank's `input` [count] into the root's `output` (unused elsewhere).
  std::shared_ptr<NcclWork> reduce(const void* input, void* output, std::size_t count, DeviceDType dtype, ReduceOp op,
                                   int root, cudaStream_t caller);
  // Point to point, for an exchange inside group().
  std::shared_ptr<NcclWork> send(const void* input, std::size_t count, DeviceDType dtype, int peer, cudaStream_t caller);
  std::shared_ptr<NcclWork> recv(void* output, std::size_t count, DeviceDType dtype, int peer, cudaStream_t caller);
  // Runs `calls` (collectives of this communicator) as one NCCL group; returns the Work of the whole group.
  std::shared_ptr<NcclWork> group(const std::string& what, cudaStream_t caller, const std::function<void()>& calls);

 private:
  int rank_ = 0, world_ = 1, device_ = 0;
  std::chrono::milliseconds timeout_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  long sequence_ = 0;
  int group_depth_ = 0;

  std::shared_ptr<NcclWork> launch(const std::string& what, cudaStream_t caller, const std::function<void()>& call);
};

}  // namespace rslicer::dist
