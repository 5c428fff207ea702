// The process's place in the job: MPI initialised once (RAII), rank, world size and local rank.
// MPI is initialised with MPI_THREAD_SERIALIZED: MPI may be called from a communication thread, never from two
// threads at once.
#pragma once

#include <string>
#include <vector>

#include "core/cpu_set.h"  // NodeCpus

namespace rslicer::dist {

class MpiContext {
 public:
  MpiContext(int* argc, char*** argv);
  ~MpiContext();
  MpiContext(const MpiContext&) = delete;
  MpiContext& operator=(const MpiContext&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  bool is_root() const { return rank_ == 0; }
  // The CPUs each rank on this node may run on, gathered at start (dist.wait=auto, loader.worker_cpus=auto).
  const NodeCpus& node_cpus() const { return node_cpus_; }

  void barrier() const;
  // Returns `text` from `root` on every rank.
  std::string broadcast(const std::string& text, int root = 0) const;
  // Every rank's `text`, in rank order, on every rank.
  std::vector<std::string> allgather(const std::string& text) const;
  // Element-wise sum over ranks, in place.
  void allreduce_sum(std::vector<double>& values) const;
  // Sum of `value` over ranks.
  long long allreduce_sum(long long value) const;
  [[noreturn]] void abort(int exit_code) const;

 private:
  int rank_ = 0, world_size_ = 1, local_rank_ = 0, local_size_ = 1;
  NodeCpus node_cpus_;
  bool finalize_ = false;
};

}  // namespace rslicer::dist
