// Where the loader's worker threads run (loader.worker_cpus): apart from the rank's compute threads, so that
// tokenization never time-slices with the matmuls. Linux affinity; elsewhere nothing is pinned.
#pragma once

#include <string>
#include <vector>

#include "core/cpu_set.h"  // allowed_cpus, cpu_share

namespace rslicer::data {

// The "auto" rule: ranks that share CPUs split them in equal contiguous slices (the rank `share_index` of the
// `share_count` ranks overlapping its CPUs, cpu_share(), gets slice `share_index`; a rank whose CPUs are its own,
// as mpirun/srun bind them, has share_count 1 and keeps them whole); in its slice
// the first `compute_threads` CPUs are the trainer's, the rest the workers'. Empty when the slice has no CPU to
// spare (then workers are not pinned: pinning them onto compute CPUs would only add contention).
std::vector<int> plan_worker_cpus(const std::vector<int>& allowed, int share_index, int share_count, int compute_threads);

// Pins the calling thread to `cpus` (no-op when empty). Returns an error text, empty on success.
std::string pin_current_thread(const std::vector<int>& cpus);

}  // namespace rslicer::data
