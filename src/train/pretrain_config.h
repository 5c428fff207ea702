// Everything `rslicer pretrain` reads from its composed config (configs/pretrain.yaml and its groups), read once,
// each key checked where it is read (a ConfigError names it). The defaults live in the YAML only: TrainOptions,
// BalanceOptions and CheckpointPolicy have none of their own, so a key cannot disagree with a second default here.
// What depends on the run rather than the config (the rank, its CPUs, each store's training windows, a resumed
// split schedule) is filled in when the run starts.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/loader.h"
#include "data/serializer.h"
#include "train/batch_balancer.h"
#include "train/checkpoint.h"
#include "train/trainer.h"
#include "tuning/split.h"

namespace rslicer::train {

// The step loop's settings (train.*, checkpoint.at_end); micro-batches a step are TrainOptions::grad_accum.
struct StepLoopOptions {
  std::int64_t log_every = 0, val_every = 0, val_batches = 0;
  std::int64_t stop_after_steps = 0;  // 0: none
  bool checkpoint_at_end = false;
};

// How the model to train is prepared beyond model.* (train.init_from and the model's training switches).
struct ModelSetup {
  std::optional<std::string> init_from;
  bool init_strict = false;
  std::int64_t freeze_layers = 0;
  bool freeze_embeddings = false, activation_checkpointing = false, pack_sequences = false;
  std::string fused_attention;
};

// loader.worker_cpus: a list of CPU ids, or "auto" / "none" (resolved against the node at start).
struct WorkerCpus {
  std::string mode;       // "list", "auto" or "none"
  std::vector<int> list;
};

struct PretrainConfig {
  std::uint64_t seed = 0;
  // Where and how the ranks run (train.trainer.*, dist.*).
  std::string device, backend, wait;
  double timeout_s = 0;
  int intra_op_threads = 0;
  // What they read (data.*, split.*, loader.*).
  std::vector<std::string> stores, val_stores;
  tuning::SplitOptions split;
  data::LoaderOptions loader;  // its per-rank fields, worker CPUs, splits and windows per store filled at start
  WorkerCpus worker_cpus;
  // How they train.
  std::size_t global_batch = 0;
  std::optional<double> epochs;  // train.epochs: passes over the data instead of train.max_steps
  TrainOptions train;  // train.max_steps as given (train.epochs is resolved against the loader at start)
  std::optional<BalanceOptions> balance;  // train.balance.enabled
  StepLoopOptions loop;
  ModelSetup model;
  CheckpointPolicy checkpoint;  // root: checkpoint.dir, else <run dir>/checkpoints
  std::optional<std::string> resume;
};

PretrainConfig read_pretrain_config(const config::Config& cfg, const std::filesystem::path& run_dir);
// The trainer's options alone (train.*, loss.*, dist bucket sizes, model.precision; train.max_steps as given).
TrainOptions read_train_options(const config::Config& cfg);
// <section>.serializer.* and <section>.max_tokens: the texts pre-training reads (section "loader"; its release records
// them) or an embedding run (section "embed"). A key a config lacks (a checkpoint's manifest written before the key
// existed) takes the default.
data::SerializerOptions read_serializer_options(const config::Config& cfg, const std::string& section);
inline data::SerializerOptions read_loader_serializer(const config::Config& cfg) {
  return read_serializer_options(cfg, "loader");
}
// train.balance.* (whether enabled or not).
BalanceOptions read_balance_options(const config::Config& cfg);
// configs/pretrain.yaml under `config_dir` composed with `overrides`, for programs that build a Trainer or a
// BatchBalancer themselves (tests, benchmarks): read_train_options(compose_pretrain(dir)).
config::Config compose_pretrain(const std::filesystem::path& config_dir, std::vector<std::string> overrides = {});

}  // namespace rslicer::train
