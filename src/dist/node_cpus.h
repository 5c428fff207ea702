// The CPU sets of the ranks that share this node, gathered once (a collective): what dist.wait=auto and
// loader.worker_cpus=auto decide from (core/cpu_set.h says why one rank's own set is not enough).
#pragma once

#include <mpi.h>

#include "core/cpu_set.h"

namespace rslicer::dist {

// Collective over `comm`: splits it by shared memory, ordering the node's ranks by `key` (their local rank), and
// all-gathers every rank's allowed_cpus() within the node.
NodeCpus gather_node_cpus(MPI_Comm comm, int key);

}  // namespace rslicer::dist
