#include "data/sampler.h"

#include <random>

#include "core/error.h"

namespace rslicer::data {

ClusterSampler::ClusterSampler(std::vector<std::size_t> windows_per_store, std::size_t cluster_size,
                               std::size_t global_batch, std::uint64_t seed)
    : windows_per_store_(std::move(windows_per_store)), cluster_size_(cluster_size), global_batch_(global_batch), seed_(seed) {
  if (cluster_size_ == 0 || global_batch_ == 0)
    throw ConfigError("cluster size and global batch must be positive", "train.global_batch / data.cluster_size",
                      "positive integers");
  std::size_t total = 0;
  for (std::size_t s = 0; s < windows_per_store_.size(); ++s) {
    for (std::size_t first = 0; first < windows_per_store_[s]; first += cluster_size_) {
      auto count = std::min(cluster_size_, windows_per_store_[s] - first);
      clusters_.push_back({static_cast<std::uint32_t>(s), static_cast<std::uint32_t>(first), static_cast<std::uint32_t>(count)});
    }
    total += windows_per_store_[s];
  }
  batches_per_epoch_ = total / global_batch_;
  if (batches_per_epoch_ == 0)
    throw ConfigError("fewer windows (" + std::to_string(total) + ") than one global batch (" +
                          std::to_string(global_batch_) + ")",
                      "train.global_batch", "a smaller global batch or more data");
}

std::vector<SampleRef> ClusterSampler::epoch_order(std::uint64_t epoch) const {
  // Fisher-Yates with our own index draw, so the order is the same on every platform.
  std::vector<std::size_t> perm(clusters_.size());
  for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = i;
  std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ULL + epoch * 0xBF58476D1CE4E5B9ULL + 1);
  for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng() % i]);
  std::vector<SampleRef> order;
  order.reserve(batches_per_epoch_ * global_batch_ + cluster_size_);
  for (std::size_t c : perm) {
    const Cluster& cl = clusters_[c];
    for (std::uint32_t k = 0; k < cl.count; ++k) order.push_back({cl.store, cl.first + k});
    if (order.size() >= batches_per_epoch_ * global_batch_) break;
  }
  order.resize(batches_per_epoch_ * global_batch_);
  return order;
}

std::vector<SampleRef> ClusterSampler::global_batch_at(std::uint64_t step) const {
  const std::uint64_t epoch = step / batches_per_epoch_, within = step % batches_per_epoch_;
  auto order = epoch_order(epoch);
  return {order.begin() + static_cast<std::ptrdiff_t>(within * global_batch_),
          order.begin() + static_cast<std::ptrdiff_t>((within + 1) * global_batch_)};
}

std::vector<std::int64_t> ClusterSampler::even_split(int world) const {
  if (world <= 0 || global_batch_ % static_cast<std::size_t>(world) != 0)
    throw ConfigError("global batch " + std::to_string(global_batch_) + " is not divisible by world size " +
                          std::to_string(world),
                      "train.global_batch", "a multiple of the number of ranks");
  return std::vector<std::int64_t>(static_cast<std::size_t>(world), static_cast<std::int64_t>(global_batch_) / world);
}

void ClusterSampler::check_split(const std::vector<std::int64_t>& split, int world, const std::string& where) const {
  std::int64_t total = 0;
  bool positive = true;
  for (auto n : split) {
    total += n;
    positive = positive && n >= 1;
  }
  if (static_cast<int>(split.size()) != world || !positive || total != static_cast<std::int64_t>(global_batch_))
    throw ConfigError("a split of " + std::to_string(split.size()) + " counts summing to " + std::to_string(total), where,
                      std::to_string(world) + " counts of at least 1 summing to the global batch " + std::to_string(global_batch_));
}

std::vector<SampleRef> ClusterSampler::rank_batch_at(std::uint64_t step, int rank, int world) const {
  return rank_batch_at(step, rank, even_split(world));
}

std::vector<SampleRef> ClusterSampler::rank_batch_at(std::uint64_t step, int rank, const std::vector<std::int64_t>& split) const {
  return rank_slice(global_batch_at(step), rank, split);
}

std::vector<SampleRef> ClusterSampler::rank_slice(const std::vector<SampleRef>& global, int rank,
                                                  const std::vector<std::int64_t>& split) const {
  check_split(split, static_cast<int>(split.size()), "data::ClusterSampler::rank_batch_at");
  if (rank < 0 || rank >= static_cast<int>(split.size()))
    throw Error("rank " + std::to_string(rank), "data::ClusterSampler::rank_batch_at", "a rank below " + std::to_string(split.size()));
  std::int64_t begin = 0;
  for (int r = 0; r < rank; ++r) begin += split[static_cast<std::size_t>(r)];
  return {global.begin() + begin, global.begin() + begin + split[static_cast<std::size_t>(rank)]};
}

}  // namespace rslicer::data
