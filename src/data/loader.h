// The prefetching loader: worker threads build whole batches (HDF5 read -> serialize -> tokenize) ahead of the
// trainer, at most `prefetch` batches ahead (a bounded queue), and hand them over in step order. HDF5 reads are
// serialised by each store's mutex (Debian's libhdf5 is not thread-safe); serialization and tokenization run in
// parallel. The state is the next global step; resume and world-size changes are exact (see ClusterSampler).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data/fault_pairs.h"
#include "data/sampler.h"
#include "data/serializer.h"
#include "data/tokenizer.h"
#include "data/window_store.h"

namespace rslicer::data {

struct LoaderOptions {
  std::size_t global_batch = 16;
  std::size_t cluster_size = 8;  // adjacent windows kept together
  std::size_t workers = 2;
  std::size_t prefetch = 4;      // batches ready ahead of the trainer
  SerializerOptions serializer{256};  // the texts (data/serializer.h): 256 tokens per modality text
  // Share of the samples shown as one pod's view of their window (its series, edges and logs: what failure
  // localization and classification embed) instead of the whole window; chosen by a hash of (step, store, window),
  // so the same on any number of ranks. In an abnormal window the pod is the root cause half the time (label 1),
  // another pod otherwise (label unknown: a fault's effects spread); in a normal window any pod (label 0). A view's
  // times are its own (no overlap with any other sample), so the temporal loss and the overlap mask leave it alone.
  double component_views = 0;
  // Same-type fault pairs at the end of every global batch (data/fault_pairs.h): the positives of the fault-type
  // loss. 0: none.
  std::size_t fault_pairs = 0;
  bool fault_pair_root_views = true;  // false: the pairs' windows shown whole
  std::uint64_t seed = 0;
  int rank = 0, world = 1;
  std::vector<int> worker_cpus;  // CPUs the worker threads are pinned to; empty: not pinned (cpu_affinity.h)
  // The split schedule to start from (first step -> windows per rank; a resumed run's, from its checkpoint, see
  // splits_from); empty: equal parts until set_split_from.
  std::map<std::uint64_t, std::vector<std::int64_t>> splits;
  // Per store: how many of its first windows are drawn (a held-out split keeps the later ones, and their labels,
  // out of pre-training: tuning::training_prefix); empty: all.
  std::vector<std::size_t> windows_per_store;
};

struct Batch {
  std::uint64_t step = 0;
  std::vector<SampleRef> samples;
  TokenBatch metrics, traces, logs;  // [local batch, length] each, left padded
  // Each sample's interval on the losses' time axis: a window's own times shifted by its store's offset
  // (WindowLoader::time_offsets), so that windows of two stores never overlap even where the stores recorded the
  // same hours (two deployments of one day, or simulated stores started alike); a pod view has an interval of its own.
  std::vector<std::int64_t> begin_ns, end_ns;
  std::vector<std::int8_t> labels;    // -1 unknown, 0 normal, 1 abnormal
  std::vector<std::int32_t> regimes;  // -1 unknown
  std::vector<std::int16_t> fault_types;  // -1 none
  std::vector<std::int64_t> rank_windows;  // every rank's windows in this step (the global batch's split)
  std::size_t tokens() const;  // real (unpadded) tokens over the three modalities
};

// Where a loader is in its stream, all a checkpoint keeps of it: the next global micro-step and the split schedule
// in force from there (empty: equal parts). A loader built with LoaderOptions::splits = splits and start_step =
// next_step goes on with the same batches.
struct LoaderState {
  std::uint64_t next_step = 0;
  std::map<std::uint64_t, std::vector<std::int64_t>> splits;
};

class WindowLoader {
 public:
  WindowLoader(std::vector<std::shared_ptr<const WindowStoreReader>> stores, std::shared_ptr<const Tokenizer> tokenizer,
               LoaderOptions options, std::uint64_t start_step = 0);
  ~WindowLoader();
  WindowLoader(const WindowLoader&) = delete;
  WindowLoader& operator=(const WindowLoader&) = delete;

  Batch next();  // blocks until the batch of the next step is ready; rethrows a worker's error
  const LoaderOptions& options() const { return options_; }
  std::uint64_t next_step() const { return next_step_; }
  const ClusterSampler& sampler() const { return sampler_; }
  const FaultPairSampler& fault_pairs() const { return fault_pairs_; }
  // Per store: what is added to its windows' times in a batch. Stores lie one after the other on the losses' time
  // axis, from 0, a second apart, in their order: a window overlaps only windows of its own store.
  const std::vector<std::int64_t>& time_offsets() const { return time_offsets_; }

  // Builds one batch in the calling thread (the reference path the workers run; also for evaluation), with the
  // split in force at `step`.
  Batch build(std::uint64_t step) const;

  // From `step` on, rank r takes split[r] windows of each global batch (the split by the ranks' pace,
  // train/batch_balancer.h; every rank sets the same). Before any split is set the ranks take equal parts.
  // `step` must not be built yet: at least next_step() + prefetch (an Error otherwise).
  void set_split_from(std::uint64_t step, std::vector<std::int64_t> split);
  std::vector<std::int64_t> split_at(std::uint64_t step) const;
  // The schedule in force from `step` on (its split there, and every later change already set): what a
  // checkpoint keeps so that a resumed run goes on with the same split. Empty while no split was ever set.
  std::map<std::uint64_t, std::vector<std::int64_t>> splits_from(std::uint64_t step) const;
  LoaderState state() const { return {next_step_, splits_from(next_step_)}; }

 private:
  std::vector<std::shared_ptr<const WindowStoreReader>> stores_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::vector<std::unique_ptr<WindowSerializer>> serializers_;
  LoaderOptions options_;
  ClusterSampler sampler_;
  FaultPairSampler fault_pairs_;
  std::vector<std::int64_t> time_offsets_;
  std::uint64_t next_step_;

  mutable std::mutex mutex_;
  std::condition_variable ready_, space_;
  std::map<std::uint64_t, std::vector<std::int64_t>> splits_;  // first step -> split (guarded by mutex_)
  std::map<std::uint64_t, Batch> done_;
  std::uint64_t claim_step_;
  bool stop_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> workers_;

  void work();
  std::vector<std::int64_t> split_at_locked(std::uint64_t step) const;
  Batch build_with(std::uint64_t step, const std::vector<std::int64_t>& split) const;
  // This rank's samples of step `step` under `split`: its slice of the sampler's global batch, whose last samples
  // are the step's fault pairs (when loader.fault_pairs > 0).
  std::vector<SampleRef> rank_samples(std::uint64_t step, const std::vector<std::int64_t>& split) const;
};

std::vector<std::size_t> window_counts(const std::vector<std::shared_ptr<const WindowStoreReader>>& stores);

}  // namespace rslicer::data
