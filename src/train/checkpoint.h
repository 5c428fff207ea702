// Sharded training checkpoints (docs/design.md §6), ZeRO-1 style:
//   <root>/step-000500/
//     shard-00000-of-00002.safetensors  rank r's slice [partition[r], partition[r+1]) of the flat fp32 parameters
//                                       ("params") and of the AdamW moments ("exp_avg", "exp_avg_sq"), and its
//                                       torch RNG state ("rng_state")
//     frozen.safetensors                parameters that do not train (frozen layers), when there are any
//     manifest.json                     step, world size, resolved config, tensor index, partition, files with
//                                       bytes and SHA-256 (per file and per tensor), RNG, data cursor, schedule,
//                                       the loss history's tail
//     DONE                              written last by rank 0, after a barrier, once every file is fsynced
// Only directories with DONE load. Loading reads the ranges a rank needs from whichever shards hold them, so a
// checkpoint from W ranks loads into W' (resharding); every tensor read is checked against its SHA-256 first.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dist/mpi_context.h"
#include "train/trainer.h"

namespace rslicer::train {

// checkpoint.* (configs/pretrain.yaml holds the defaults; train/pretrain_config.h reads them).
struct CheckpointPolicy {
  std::filesystem::path root;  // <run dir>/checkpoints unless configured
  std::int64_t every_steps = 0;    // 0: not by steps
  double every_minutes = 0;        // 0: not by time
  std::int64_t keep_last = 0;      // complete checkpoints kept, newest first (0: all)
  std::vector<std::int64_t> keep_steps;  // kept forever
  bool async = false;              // write shards on a background thread; completed at the next step boundary
};

// Where the run goes on after a checkpoint.
struct TrainingCursor {
  std::int64_t step = 0;                             // optimizer steps done
  std::uint64_t data_step = 0, val_data_step = 0;    // the loaders' next global micro-step
  std::vector<double> loss_tail;                     // the last losses, for the manifest and summaries
  // train.balance's split schedule from data_step on (WindowLoader::splits_from); empty: equal parts.
  std::map<std::uint64_t, std::vector<std::int64_t>> splits;
  nlohmann::json balancer;  // train.balance: BatchBalancer::state_dict(); null without a balancer
};

std::filesystem::path checkpoint_path(const std::filesystem::path& root, std::int64_t step);
bool checkpoint_complete(const std::filesystem::path& dir);
// The newest complete checkpoint under `root`, if any.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& root);
// manifest.json of a complete checkpoint (throws a one-line Error otherwise).
nlohmann::json read_checkpoint_manifest(const std::filesystem::path& dir);
// The train.balance split schedule a manifest keeps (data_cursor.splits); empty when it keeps none (balance off,
// or a checkpoint written before the schedule was kept, 2026-12-02).
// Where a run resumed from the checkpoint in `dir` (whose manifest is `manifest`) goes on: step, the loaders'
// cursors, the loss tail and the split schedule.
TrainingCursor training_cursor(const nlohmann::json& manifest, const std::filesystem::path& dir);
std::map<std::uint64_t, std::vector<std::int64_t>> checkpoint_splits(const nlohmann::json& manifest,
                                                                     const std::filesystem::path& dir);

class CheckpointWriter {
 public:
  // `faults`: the test hooks (train/fault_injector.h: kill_in_save); none by default.
  CheckpointWriter(CheckpointPolicy policy, const dist::MpiContext& mpi, std::string config_yaml,
                   FaultInjector faults = {});
  ~CheckpointWriter();  // waits for a background write; never calls MPI
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  const CheckpointPolicy& policy() const { return policy_; }
  bool due_by_steps(std::int64_t steps_done) const;
  bool due_by_time() const;  // minutes since the last save (or the start); rank 0's clock decides

  // Collective. Saves the trainer's state and `cursor`; with async, the shards are written in the background
  // and the checkpoint completes (manifest, DONE) in finish_pending(). Throws when any rank failed to write;
  // the broken directory is removed and earlier checkpoints are untouched.
  void save(Trainer& trainer, const TrainingCursor& cursor);
  // Collective; no-op when nothing is pending.
  void finish_pending();
  bool pending() const { return pending_ != nullptr; }

 private:
  struct Pending;
  CheckpointPolicy policy_;
  const dist::MpiContext& mpi_;
  std::string config_yaml_;
  FaultInjector faults_;
  std::unique_ptr<Pending> pending_;
  double last_save_time_;

  void apply_retention(std::int64_t newest_step) const;
};

// Loads a complete checkpoint into `trainer` (parameters, this rank's moments, step; the RNG state when the
// world size is unchanged) and returns the cursor. Works for any world size (resharding).
TrainingCursor load_checkpoint(const std::filesystem::path& dir, Trainer& trainer, int rank);

// Every parameter of a checkpoint by name, whole (trainable ones assembled from the shards, frozen ones), checked.
std::map<std::string, torch::Tensor> checkpoint_parameters(const std::filesystem::path& dir);

}  // namespace rslicer::train
