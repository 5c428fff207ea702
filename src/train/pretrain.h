// `rslicer pretrain`: window stores -> data-parallel pre-training -> a release in <run dir>/final/.
// Rank 0 shows a progress line (step, loss terms, lr, windows/s, tokens/s, ETA) and writes metrics.jsonl; a
// summary at the end. SIGTERM or SIGUSR1 (Slurm's warning before the time limit) stop the run at the next step
// boundary on every rank, after writing the release.
#pragma once

#include <filesystem>

#include "config/config.h"
#include "dist/mpi_context.h"
#include "model/release.h"

namespace rslicer::train {

// The model section of a composed config (model/*.yaml).
model::ReleaseInfo model_info_from_config(const config::Config& model_cfg);
// model.tokenizer, or the installed Qwen3 tokenizer when it is null.
std::filesystem::path tokenizer_path_from_config(const config::Config& model_cfg);
// Builds the model from the config: a local Qwen3-Embedding directory when model.pretrained_dir is set, else
// random initialisation with `seed`.
model::RuntimeSlicer build_model(const config::Config& model_cfg, std::uint64_t seed);

// Applies `key`.{mmap_threshold_mb, trim_threshold_mb} (train.trainer.allocator, embed.allocator) as this
// process's malloc policy (core/allocator.h); a value out of range or refused is a ConfigError naming the key.
void apply_allocator_policy_from_config(const config::Config& cfg, const std::string& key);

struct PretrainResult {
  std::int64_t steps = 0;
  double first_loss = 0, last_loss = 0;
  bool stopped_by_signal = false;
  bool stopped_early = false;  // train.stop_after_steps
};

PretrainResult run_pretraining(const config::Config& cfg, const std::filesystem::path& run_dir,
                               const dist::MpiContext& mpi);

}  // namespace rslicer::train
