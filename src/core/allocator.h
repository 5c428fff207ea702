// The C allocator's policy for a training process (glibc malloc). A training step allocates and frees tens of MB
// of activations and gradients. By default glibc gives freed memory at the top of its heap back to the kernel and
// serves large blocks with fresh mmaps, so the next step faults the same pages in again, each zeroed by the
// kernel: on the tiny model (1 rank x 16, 2-core VM) about 42,000 page faults and 60 ms of system time a step, an
// eighth of the step, and a source of step-to-step jitter that every rank of a data-parallel job then waits for.
// Keeping freed memory for reuse (what PyTorch users get from jemalloc or tcmalloc) removes them.
// Config: train.trainer.allocator (configs/trainer/*.yaml) for training, embed.allocator for rslicer embed.
#pragma once

#include <cstddef>
#include <string>

namespace rslicer {

struct AllocatorPolicy {
  // Blocks at least this large are mmapped and unmapped on free (glibc's default: 128 KiB, rising to 32 MiB).
  std::size_t mmap_threshold_bytes = 0;
  // Free memory above this much at the top of the heap is returned to the kernel (glibc's default: 128 KiB).
  std::size_t trim_threshold_bytes = 0;
};

// Whether a policy takes effect in this build: not in sanitizer builds, whose allocator replaces glibc's (their
// mallopt does nothing and returns 0).
bool allocator_policy_takes_effect();

// Applies the policy to this process (0 in a field: glibc's default for it). Throws ConfigError naming
// `config_key` (where the policy came from) when glibc refuses. A no-op where allocator_policy_takes_effect() is
// false.
void apply_allocator_policy(const AllocatorPolicy& policy, const std::string& config_key = "train.trainer.allocator");

// Minor page faults of this process so far (getrusage), for tests and figures.
long minor_page_faults();

}  // namespace rslicer
