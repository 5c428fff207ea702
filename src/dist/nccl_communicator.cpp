#include "dist/nccl_communicator.h"

#include <fmt/format.h>
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/error.h"

namespace rslicer::dist {

namespace {

void check_cuda(cudaError_t status, const std::string& what) {
  if (status != cudaSuccess)
    throw Error(std::string("CUDA error: ") + cudaGetErrorString(status), what, "a working CUDA device");
}

void check_nccl(ncclResult_t status, const std::string& what) {
  if (status != ncclSuccess)
    throw Error(std::string("NCCL error: ") + ncclGetErrorString(status), what, "a working NCCL communicator");
}

ncclDataType_t nccl_type(DeviceDType t) {
  switch (t) {
    case DeviceDType::f32: return ncclFloat32;
    case DeviceDType::bf16: return ncclBfloat16;
    case DeviceDType::f16: return ncclFloat16;
    case DeviceDType::i64: return ncclInt64;
    case DeviceDType::f64: return ncclFloat64;
  }
  return ncclFloat32;
}

std::size_t type_size(DeviceDType t) {
  return t == DeviceDType::i64 || t == DeviceDType::f64 ? 8 : t == DeviceDType::f32 ? 4 : 2;
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return ncclSum;
    case ReduceOp::avg: return ncclAvg;
    case ReduceOp::max: return ncclMax;
  }
  return ncclSum;
}

}  // namespace

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver / no device" error
    return 0;
  }
  return count;
}

std::string cuda_device_pci_bus_id(int device) {
  char id[32] = {};
  check_cuda(cudaDeviceGetPCIBusId(id, static_cast<int>(sizeof(id)), device),
             "cudaDeviceGetPCIBusId(" + std::to_string(device) + ")");
  return id;
}

NcclWork::NcclWork(cudaEvent_t done, std::string what, std::chrono::milliseconds timeout, int rank, ncclComm_t comm)
    : done_(done), what_(std::move(what)), deadline_(std::chrono::steady_clock::now() + timeout), rank_(rank), comm_(comm) {}

NcclWork::~NcclWork() { cudaEventDestroy(done_); }

void NcclWork::wait(cudaStream_t caller) { check_cuda(cudaStreamWaitEvent(caller, done_, 0), "cudaStreamWaitEvent " + what_); }

bool NcclWork::done() {
  const cudaError_t status = cudaEventQuery(done_);
  if (status == cudaErrorNotReady) return false;
  check_cuda(status, what_);
  return true;
}

void NcclWork::synchronize() {
  while (!done()) {
    ncclResult_t async_error = ncclSuccess;
    ncclCommGetAsyncError(comm_, &async_error);
    if (async_error != ncclSuccess || std::chrono::steady_clock::now() > deadline_) {
      std::fprintf(stderr,
                   "error: NCCL collective %s %s on rank %d (a peer rank is missing, dead or stuck), aborting the "
                   "job (dist.timeout_s)\n",
                   what_.c_str(), async_error != ncclSuccess ? ncclGetErrorString(async_error) : "did not finish in time",
                   rank_);
      ncclCommAbort(comm_);
      MPI_Abort(MPI_COMM_WORLD, 1);
      std::exit(1);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

NcclCommunicator::NcclCommunicator(const MpiContext& mpi, int device, std::chrono::milliseconds timeout)
    : rank_(mpi.rank()), world_(mpi.world_size()), device_(device), timeout_(timeout) {
  if (cuda_device_count() == 0) throw Error("no CUDA device", "dist::NcclCommunicator", "a GPU for the NCCL backend");
  check_cuda(cudaSetDevice(device_), "cudaSetDevice(" + std::to_string(device_) + ")");
  ncclUniqueId id;
  if (rank_ == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  std::string bytes = mpi.broadcast(rank_ == 0 ? std::string(reinterpret_cast<const char*>(&id), sizeof(id)) : "");
  std::memcpy(&id, bytes.data(), sizeof(id));
  check_nccl(ncclCommInitRank(&comm_, world_, id, rank_), "ncclCommInitRank");
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
}

NcclCommunicator::~NcclCommunicator() {
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  if (comm_ != nullptr) ncclCommDestroy(comm_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

std::shared_ptr<NcclWork> NcclCommunicator::launch(const std::string& what, cudaStream_t caller,
                                                   const std::function<void()>& call) {
  if (group_depth_ > 0) {  // inside group(): the group issues the events
    call();
    return nullptr;
  }
  // Our stream starts after what the caller has queued (the gradients are ready), and records completion.
  cudaEvent_t ready = nullptr, done = nullptr;
  check_cuda(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "cudaEventCreate");
  check_cuda(cudaEventRecord(ready, caller), "cudaEventRecord");
  check_cuda(cudaStreamWaitEvent(stream_, ready, 0), "cudaStreamWaitEvent");
  cudaEventDestroy(ready);
  call();
  check_cuda(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
  check_cuda(cudaEventRecord(done, stream_), "cudaEventRecord");
  return std::make_shared<NcclWork>(done, fmt::format("{} #{}", what, ++sequence_), timeout_, rank_, comm_);
}

std::shared_ptr<NcclWork> NcclCommunicator::allreduce(void* buffer, std::size_t count, DeviceDType dtype, ReduceOp op,
                                                      cudaStream_t caller) {
  return launch(fmt::format("allreduce({})", count), caller, [&] {
    check_nccl(ncclAllReduce(buffer, buffer, count, nccl_type(dtype), nccl_op(op), comm_, stream_), "ncclAllReduce");
  });
}

std::shared_ptr<NcclWork> NcclCommunicator::allgather(const void* input, void* output, std::size_t count,
                                                      DeviceDType dtype, cudaStream_t caller) {
  return launch(fmt::format("allgather({})", count), caller, [&] {
    check_nccl(ncclAllGather(input, output, count, nccl_type(dtype), comm_, stream_), "ncclAllGather");
  });
}

std::shared_ptr<NcclWork> NcclCommunicator::reduce_scatter(const void* input, void* output, std::size_t count,
                                                           DeviceDType dtype, cudaStream_t caller) {
  return launch(fmt::format("reduce_scatter({})", count), caller, [&] {
    check_nccl(ncclReduceScatter(input, output, count, nccl_type(dtype), ncclSum, comm_, stream_), "ncclReduceScatter");
  });
}

std::shared_ptr<NcclWork> NcclCommunicator::broadcast(void* buffer, std::size_t count, DeviceDType dtype, int root,
                                                      cudaStream_t caller) {
  (void)type_size;
  return launch(fmt::format("broadcast({}, root {})", count, root), caller, [&] {
    check_nccl(ncclBroadcast(buffer, buffer, count, nccl_type(dtype), root, comm_, stream_), "ncclBroadcast");
  });
}

std::shared_ptr<NcclWork> NcclCommunicator::broadcast(const void* input, void* output, std::size_t count,
                                                      DeviceDType dtype, int root, cudaStream_t caller) {
  return launch(fmt::format("broadcast({}, root {})", count, root), caller, [&] {
    check_nccl(ncclBroadcast(input, output, count, nccl_type(dtype), root, comm_, stream_), "ncclBroadcast");
  });
}

std::shared_ptr<NcclWork> NcclCommunicator::reduce(const void* input, void* output, std::size_t count,
                                                   DeviceDType dtype, ReduceOp op, int root, cudaStream_t caller) {
  return launch(fmt::format("reduce({}, root {})", count, root), caller, [&] {
    check_nccl(ncclReduce(input, output, count, nccl_type(dtype), nccl_op(op), root, comm_, stream_), "ncclReduce");
  });
}

std::shared_ptr<NcclWork> NcclCommunicator::send(const void* input, std::size_t count, DeviceDType dtype, int peer,
                                                 cudaStream_t caller) {
  return launch(fmt::format("send({}, to {})", count, peer), caller, [&] {
    check_nccl(ncclSend(input, count, nccl_type(dtype), peer, comm_, stream_), "ncclSend");
  });
}

std::shared_ptr<NcclWork> NcclCommunicator::recv(void* output, std::size_t count, DeviceDType dtype, int peer,
                                                 cudaStream_t caller) {
  return launch(fmt::format("recv({}, from {})", count, peer), caller, [&] {
    check_nccl(ncclRecv(output, count, nccl_type(dtype), peer, comm_, stream_), "ncclRecv");
  });
}

std::shared_ptr<NcclWork> NcclCommunicator::group(const std::string& what, cudaStream_t caller,
                                                  const std::function<void()>& calls) {
  return launch("group " + what, caller, [&] {
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    ++group_depth_;
    try {
      calls();
    } catch (...) {
      --group_depth_;
      ncclGroupEnd();
      throw;
    }
    --group_depth_;
    check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  });
}

}  // namespace rslicer::dist
