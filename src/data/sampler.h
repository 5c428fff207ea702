// The distributed sampler (docs/design.md §5): windows are grouped into clusters of temporally adjacent windows (within one
// store), clusters are permuted per epoch (seeded), the concatenation is cut into global batches, and rank r takes
// its contiguous slice of each global batch. Overlapping windows thus meet in a batch (the temporal loss needs
// them), and the only state is the global step: resume and a change of world size are exact.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rslicer::data {

struct SampleRef {
  std::uint32_t store = 0;
  std::uint32_t window = 0;
  bool root_view = false;  // shown as its fault's root-cause pod view (data/fault_pairs.h), not as the whole window
  bool operator==(const SampleRef& o) const { return store == o.store && window == o.window && root_view == o.root_view; }
};

class ClusterSampler {
 public:
  ClusterSampler(std::vector<std::size_t> windows_per_store, std::size_t cluster_size, std::size_t global_batch,
                 std::uint64_t seed);

  std::size_t global_batch() const { return global_batch_; }
  std::size_t batches_per_epoch() const { return batches_per_epoch_; }
  // Windows drawn of each store (its first ones: a held-out split keeps the later ones out).
  const std::vector<std::size_t>& windows_per_store() const { return windows_per_store_; }
  // The global batch of a step (steps run on across epochs).
  std::vector<SampleRef> global_batch_at(std::uint64_t step) const;
  // Rank r's slice of it; world must divide the global batch.
  std::vector<SampleRef> rank_batch_at(std::uint64_t step, int rank, int world) const;
  // Rank r's slice when the global batch is split unevenly (by the ranks' pace, train/batch_balancer.h): rank q
  // takes split[q] samples, after those of the ranks before it.
  std::vector<SampleRef> rank_batch_at(std::uint64_t step, int rank, const std::vector<std::int64_t>& split) const;
  // Rank r's slice of a global batch under `split` (checked as above).
  std::vector<SampleRef> rank_slice(const std::vector<SampleRef>& global_batch, int rank,
                                    const std::vector<std::int64_t>& split) const;
  // The split of the global batch into `world` equal parts, and a check that `split` is one (one count per rank,
  // each at least 1, summing to the global batch; ConfigError naming `where` otherwise).
  std::vector<std::int64_t> even_split(int world) const;
  void check_split(const std::vector<std::int64_t>& split, int world, const std::string& where) const;
  // The whole order of one epoch (batches_per_epoch * global_batch samples).
  std::vector<SampleRef> epoch_order(std::uint64_t epoch) const;

 private:
  std::vector<std::size_t> windows_per_store_;
  std::size_t cluster_size_, global_batch_, batches_per_epoch_ = 0;
  std::uint64_t seed_;
  struct Cluster {
    std::uint32_t store, first, count;
  };
  std::vector<Cluster> clusters_;
};

}  // namespace rslicer::data
