#include "dist/gradient_reducer.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "core/error.h"

namespace rslicer::dist {

std::vector<std::int64_t> parts_within(const std::vector<std::int64_t>& partition, std::int64_t begin, std::int64_t end) {
  std::vector<std::int64_t> counts;
  for (std::size_t r = 0; r + 1 < partition.size(); ++r)
    counts.push_back(std::max<std::int64_t>(0, std::min(end, partition[r + 1]) - std::max(begin, partition[r])));
  return counts;
}

GradientReducer::GradientReducer(std::vector<torch::Tensor> parameters, Communicator& comm, ReducerOptions options,
                                 std::optional<GradientPartition> partition)
    : parameters_(std::move(parameters)), partition_(std::move(partition)), comm_(comm) {
  slots_.resize(parameters_.size());
  ready_.assign(parameters_.size(), false);
  if (partition_ && (partition_->offsets.size() != parameters_.size() ||
                     static_cast<int>(partition_->partition.size()) != comm_.world_size() + 1))
    throw Error("gradient partition of " + std::to_string(partition_->offsets.size()) + " offsets and " +
                    std::to_string(partition_->partition.size()) + " bounds",
                "dist::GradientReducer", "one offset per parameter and world size + 1 bounds");
  // Buckets in reverse registration order. With a partition a bucket must also be one range of the flat buffer,
  // so a parameter that does not end where the bucket begins starts a new one.
  std::size_t limit = options.first_bucket_bytes, used = 0;
  std::int64_t bucket_begin = 0;
  for (std::size_t k = parameters_.size(); k-- > 0;) {
    const std::size_t bytes = static_cast<std::size_t>(parameters_[k].numel()) * parameters_[k].element_size();
    const bool adjacent = !partition_ || partition_->offsets[k] + parameters_[k].numel() == bucket_begin;
    if (buckets_.empty() || (used > 0 && (used + bytes > limit || !adjacent))) {
      if (!buckets_.empty()) limit = options.bucket_bytes;
      buckets_.emplace_back();
      used = 0;
    }
    slots_[k] = {buckets_.size() - 1, used / parameters_[k].element_size()};
    buckets_.back().params.push_back(k);
    used += bytes;
    if (partition_) bucket_begin = partition_->offsets[k];
  }
  for (auto& b : buckets_) {
    std::int64_t n = 0;
    for (auto k : b.params) n += parameters_[k].numel();
    b.flat = torch::zeros({n}, parameters_[b.params.front()].options().requires_grad(false));
    if (!partition_) continue;
    // In the flat buffer's order (the bucket's last parameter comes first), cut by the partition.
    const std::int64_t begin = partition_->offsets[b.params.back()], end = begin + n;
    for (auto k : b.params) slots_[k].offset = static_cast<std::size_t>(partition_->offsets[k] - begin);
    const auto& bounds = partition_->partition;
    b.counts = parts_within(bounds, begin, end);
    const std::int64_t mine_begin = std::clamp(bounds[comm_.rank()], begin, end);
    b.mine = partition_->flat_grads.narrow(0, mine_begin, b.counts[static_cast<std::size_t>(comm_.rank())]);
  }
  for (std::size_t k = 0; k < parameters_.size(); ++k) {
    parameters_[k].register_hook([this, k](torch::Tensor grad) {
      if (reducing_) mark_ready(k, grad);
      return grad;
    });
  }
}

void GradientReducer::prepare(bool reduce) {
  reducing_ = reduce && comm_.world_size() > 1;
  if (!reducing_) return;
  std::fill(ready_.begin(), ready_.end(), false);
  for (auto& b : buckets_) {
    b.pending = b.params.size();
    b.work.reset();
  }
  next_to_launch_ = 0;
}

void GradientReducer::mark_ready(std::size_t k, const torch::Tensor& grad) {
  if (ready_[k]) return;
  ready_[k] = true;
  Bucket& b = buckets_[slots_[k].bucket];
  // The hook sees this backward's gradient; earlier micro-steps' gradients are already in .grad.
  auto view = b.flat.narrow(0, static_cast<std::int64_t>(slots_[k].offset), parameters_[k].numel());
  torch::NoGradGuard no_grad;
  const auto& accumulated = parameters_[k].grad();
  if (accumulated.defined())
    view.copy_((accumulated + grad).reshape({-1}));
  else
    view.copy_(grad.reshape({-1}));
  --b.pending;
  launch_ready_buckets();
  progress_launched_buckets();
}

void GradientReducer::progress_launched_buckets() {
  // MPI's non-blocking collectives advance only inside MPI calls: testing the launched buckets at every hook lets
  // them move while backward goes on, rather than all at once in finish().
  for (std::size_t i = 0; i < next_to_launch_; ++i)
    if (buckets_[i].work) buckets_[i].work->done();
}

void GradientReducer::launch_ready_buckets() {
  // Same order on every rank: bucket i only after bucket i-1.
  while (next_to_launch_ < buckets_.size() && buckets_[next_to_launch_].pending == 0) {
    Bucket& b = buckets_[next_to_launch_++];
    b.work = partition_ ? comm_.reduce_scatter(b.flat, b.mine, b.counts, ReduceOp::avg) : comm_.allreduce(b.flat, ReduceOp::avg);
  }
}

void GradientReducer::finish() {
  if (!reducing_) return;
  // Parameters that got no gradient this step count as zero.
  for (std::size_t k = 0; k < parameters_.size(); ++k) {
    if (ready_[k]) continue;
    ready_[k] = true;
    Bucket& b = buckets_[slots_[k].bucket];
    auto view = b.flat.narrow(0, static_cast<std::int64_t>(slots_[k].offset), parameters_[k].numel());
    const auto& accumulated = parameters_[k].grad();
    if (accumulated.defined())
      view.copy_(accumulated.reshape({-1}));
    else
      view.zero_();
    --b.pending;
  }
  launch_ready_buckets();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& b : buckets_) b.work->wait();
  seconds_waiting_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (partition_) {  // the averages are in flat_grads already
    reducing_ = false;
    return;
  }
  torch::NoGradGuard no_grad;
  for (std::size_t k = 0; k < parameters_.size(); ++k) {
    Bucket& b = buckets_[slots_[k].bucket];
    auto view = b.flat.narrow(0, static_cast<std::int64_t>(slots_[k].offset), parameters_[k].numel()).view(parameters_[k].sizes());
    if (parameters_[k].grad().defined())
      parameters_[k].mutable_grad().copy_(view);
    else
      parameters_[k].mutable_grad() = view.clone();
  }
  reducing_ = false;
}

}  // namespace rslicer::dist
