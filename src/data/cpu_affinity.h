// Where the loader's worker threads run (loader.worker_cpus): apart from the rank's compute threads, so that
// tokenization never time-slices with the matmuls. Linux affinity; elsewhere nothing is pinned.
#pragma once

#include <string>
#include <vector>

#include "core/cpu_set.h"  // allowed_cpus, bound_by_launcher

namespace rslicer::data {

// The "auto" rule: the ranks of a node share its allowed CPUs in equal contiguous slices (local rank r gets slice
// r; when mpirun/srun already bound the rank, `allowed` is its own set and local_size should be 1); in its slice
// the first `compute_threads` CPUs are the trainer's, the rest the workers'. Empty when the slice has no CPU to
// spare (then workers are not pinned: pinning them onto compute CPUs would only add contention).
std::vector<int> plan_worker_cpus(const std::vector<int>& allowed, int local_rank, int local_size, int compute_threads);

// Pins the calling thread to `cpus` (no-op when empty). Returns an error text, empty on success.
std::string pin_current_thread(const std::vector<int>& cpus);

}  // namespace rslicer::data
