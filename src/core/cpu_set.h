// The CPUs this process may run on, and whether its launcher gave them to it. Both the loader's worker placement
// (loader.worker_cpus) and the collective wait policy (dist.wait=auto) decide on this one rule.
#pragma once

#include <vector>

namespace rslicer {

// The CPUs this process may run on (sched_getaffinity), ascending; empty where that is unknown (not Linux).
std::vector<int> allowed_cpus();

// A process allowed fewer CPUs than the node has online was bound by its launcher (mpirun --bind-to core, srun
// --cpu-bind): those CPUs are its own. An unbound process shares what it may run on with the node's other ranks.
bool bound_by_launcher(const std::vector<int>& allowed);

}  // namespace rslicer
