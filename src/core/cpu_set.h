// The CPUs this process may run on, and how they relate to those of the node's other ranks. Both the loader's
// worker placement (loader.worker_cpus=auto) and the collective wait policy (dist.wait=auto) decide from the
// CPU sets of all the ranks on the node (dist::MpiContext::node_cpus gathers them), not from one rank's alone:
// one rank's set cannot tell "bound to these cores by mpirun" from "unbound in a Slurm cgroup of these cores".
#pragma once

#include <vector>

namespace rslicer {

// The CPUs this process may run on (sched_getaffinity), ascending; empty where that is unknown (not Linux).
std::vector<int> allowed_cpus();

// Whether every rank can be given a CPU that no other rank is given, among the CPUs each may run on (one entry
// per rank of the node; an empty entry is "unknown" and taken as every online CPU). Ranks bound to distinct
// cores, or N unbound ranks in a cpuset of at least N CPUs: yes. Eight unbound ranks in a cgroup of four CPUs, or
// two ranks bound to the same core: no. Decided by bipartite matching (Hall's condition), so overlapping sets of
// any shape are judged right.
bool every_rank_has_a_cpu_of_its_own(const std::vector<std::vector<int>>& cpus_per_rank);

// Where rank `me` stands among the ranks whose CPUs overlap its own (itself included): `count` 1 means its CPUs
// are its own; otherwise the loader splits the shared CPUs into `count` slices and takes slice `index`.
struct CpuShare {
  int index = 0;
  int count = 1;
};
CpuShare cpu_share(const std::vector<std::vector<int>>& cpus_per_rank, int me);

// The CPU sets of the ranks that share a node (dist::gather_node_cpus collects them).
struct NodeCpus {
  std::vector<std::vector<int>> per_rank;  // by rank on the node; each as allowed_cpus() gave it on that rank
  int me = 0;                              // this rank's entry
};

}  // namespace rslicer
