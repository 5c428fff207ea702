#include "train/device.h"

#include <unistd.h>

#include <set>

#include "core/error.h"
#include "dist/per_device_communicator.h"
#include "dist/staging_communicator.h"
#if RSLICER_WITH_NCCL
#include "dist/nccl_communicator.h"
#include "dist/nccl_tensor_communicator.h"
#endif

namespace rslicer::train {

bool cuda_training_built() { return RSLICER_CUDA_TRAINING != 0; }
std::string cuda_training_reason() { return RSLICER_CUDA_REASON; }

torch::Device training_device(const std::string& name, const dist::MpiContext& mpi) {
  if (name == "cpu") return torch::kCPU;
  if (name != "cuda") throw ConfigError("device '" + name + "'", "train.trainer.device", "cpu or cuda");
  if (!cuda_training_built())
    throw ConfigError("device 'cuda' in a build without the CUDA training path (" + cuda_training_reason() + ")",
                      "train.trainer.device",
                      "cpu, or a build against a CUDA LibTorch (docs/training.md, Devices)");
  if (!torch::cuda::is_available())
    throw ConfigError("device 'cuda' on rank " + std::to_string(mpi.rank()) + ", which sees no CUDA device",
                      "train.trainer.device", "a GPU visible to every rank (CUDA_VISIBLE_DEVICES), or cpu");
  const auto visible = static_cast<int>(torch::cuda::device_count());
  return {torch::kCUDA, static_cast<torch::DeviceIndex>(mpi.local_rank() % visible)};
}

namespace {

// NCCL needs one GPU a rank: every rank's (host, PCI bus id) distinct. Empty when so, else the first shared GPU.
std::string shared_gpu(const torch::Device& device, const dist::MpiContext& mpi) {
#if RSLICER_WITH_NCCL
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  const auto ids = mpi.allgather(std::string(host) + " " + dist::cuda_device_pci_bus_id(device.index()));
  std::set<std::string> seen;
  for (const auto& id : ids)
    if (!seen.insert(id).second) return id;
  return "";
#else
  (void)device;
  (void)mpi;
  return "";
#endif
}

}  // namespace

TrainingCommunicator::TrainingCommunicator(torch::Device device, const std::string& backend, dist::Communicator& host,
                                           const dist::MpiContext& mpi, std::chrono::milliseconds timeout) {
  if (backend != "auto" && backend != "mpi" && backend != "nccl")
    throw ConfigError("dist.backend '" + backend + "'", "dist.backend", "auto, mpi or nccl");
  if (device.is_cpu()) {
    if (backend == "nccl") throw ConfigError("dist.backend nccl with device cpu", "dist.backend", "auto or mpi on the CPU");
    used_ = &host;
    description_ = "MPI";
    return;
  }
  const bool nccl_built = RSLICER_WITH_NCCL != 0;
  const std::string shared = backend == "mpi" || !nccl_built ? "" : shared_gpu(device, mpi);
  const bool nccl = backend != "mpi" && nccl_built && shared.empty();
  if (backend == "nccl" && !nccl)
    throw ConfigError(nccl_built ? "dist.backend nccl with two ranks on one GPU (" + shared + ")"
                                 : std::string("dist.backend nccl in a build without NCCL"),
                      "dist.backend", nccl_built ? "one GPU a rank, or auto/mpi" : "auto or mpi");
#if RSLICER_WITH_NCCL
  if (nccl) {
    device_backend_ = std::make_unique<dist::NcclTensorCommunicator>(mpi, device.index(), timeout);
    per_device_ = std::make_unique<dist::PerDeviceCommunicator>(host, *device_backend_);
    used_ = per_device_.get();
    description_ = "NCCL for " + device.str() + " tensors, MPI for host tensors";
    return;
  }
#else
  (void)timeout;
#endif
  device_backend_ = std::make_unique<dist::StagingCommunicator>(host);
  used_ = device_backend_.get();
  description_ = "MPI, " + device.str() + " tensors staged through pinned host memory (" +
                 (backend == "mpi" ? std::string("dist.backend=mpi")
                  : !nccl_built    ? std::string("no NCCL in this build")
                                   : "ranks share " + shared) + ")";
}

}  // namespace rslicer::train
