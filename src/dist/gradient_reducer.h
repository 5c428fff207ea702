// The gradient reducer, after PyTorch DDP's Reducer: parameters in reverse registration order (roughly the order
// backward produces their gradients) are packed into flat buckets (the first about 1 MiB so communication starts
// early, then about 25 MiB); a hook per parameter copies its gradient into its bucket and marks it ready; a full
// bucket launches an async all-reduce (average), in bucket order on every rank; finish() waits for all and writes
// the averaged gradients back. Non-final micro-steps of gradient accumulation do not reduce. A parameter that got
// no gradient in a step counts as zero.
// With a GradientPartition (ZeRO-1, where a rank steps only its slice of the parameters): buckets are laid out in
// the flat buffer's order and reduce-scattered instead of all-reduced, each rank receiving the average of only
// the elements it owns, written straight into the flat gradient buffer (ZeRO-2's gradient partitioning, on the
// buckets). At 2 ranks that halves what is moved and summed, and nothing is copied back into .grad, which then
// keeps the rank's local gradient.
// Overlap without a communication thread: MPI's non-blocking collectives advance only inside MPI calls, so every
// hook also tests the buckets already launched; they move while backward computes the next gradients. A progress
// thread (allowed: MPI_THREAD_SERIALIZED) would compete with the compute thread for the rank's core(s) — with one
// core per rank, as on the 2-core CI machine, it cannot add work, only context switches; testing at the hooks
// measured 1.02-1.05x backward alone for backward + reduce (README, Measured figures).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <vector>

#include "dist/communicator.h"

namespace rslicer::dist {

struct ReducerOptions {
  std::size_t first_bucket_bytes = 1u << 20;
  std::size_t bucket_bytes = 25u << 20;
};

// Parameter k's gradient is elements [offsets[k], offsets[k] + numel) of `flat_grads`, of which rank r owns
// [partition[r], partition[r + 1]) (partition.front() 0, partition.back() its size).
struct GradientPartition {
  std::vector<std::int64_t> offsets;
  std::vector<std::int64_t> partition;
  torch::Tensor flat_grads;  // float32, contiguous
};

// How many elements of [begin, end) each rank owns under `partition` (contiguous slices in rank order, so the
// parts lie one after another in rank order): the counts of an uneven collective over that range.
std::vector<std::int64_t> parts_within(const std::vector<std::int64_t>& partition, std::int64_t begin, std::int64_t end);

class GradientReducer {
 public:
  GradientReducer(std::vector<torch::Tensor> parameters, Communicator& comm, ReducerOptions options = {},
                  std::optional<GradientPartition> partition = std::nullopt);

  // Call before backward; `reduce` false on non-final micro-steps (gradients just accumulate locally).
  void prepare(bool reduce);
  // Call after backward: waits for every bucket and sets each parameter's .grad to the average over ranks (with
  // a partition: this rank's elements of flat_grads).
  void finish();

  std::size_t bucket_count() const { return buckets_.size(); }
  double seconds_waiting() const { return seconds_waiting_; }  // time finish() spent waiting (not overlapped)

 private:
  struct Slot {
    std::size_t bucket, offset;
  };
  struct Bucket {
    torch::Tensor flat;
    std::vector<std::size_t> params;  // indices into parameters_
    std::vector<std::int64_t> counts;  // with a partition: elements of `flat` each rank owns, in rank order
    torch::Tensor mine;                // with a partition: this rank's part of flat_grads
    std::size_t pending = 0;
    std::shared_ptr<Work> work;
  };
  std::vector<torch::Tensor> parameters_;
  std::optional<GradientPartition> partition_;
  std::vector<Slot> slots_;
  std::vector<bool> ready_;
  std::vector<Bucket> buckets_;
  Communicator& comm_;
  bool reducing_ = false;
  std::size_t next_to_launch_ = 0;
  double seconds_waiting_ = 0;

  void mark_ready(std::size_t param, const torch::Tensor& grad);
  void launch_ready_buckets();
  void progress_launched_buckets();
};

}  // namespace rslicer::dist
