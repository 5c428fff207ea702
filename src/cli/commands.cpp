#include "cli/commands.h"

#include "cli/ingest_command.h"
#include "cli/post_training.h"
#include "cli/pretrain_command.h"
#include "train/export.h"
#include "cli/simulate_command.h"
#include "core/error.h"
#include "dist/mpi_context.h"

namespace rslicer::cli {

namespace {
void run_export(const JobContext& ctx) {
  // One process writes the release; other ranks of an mpirun have nothing to do.
  if (ctx.mpi.rank() != 0) return;
  std::optional<std::filesystem::path> report;
  if (!ctx.cfg.is_null("report")) report = ctx.cfg.get_string("report");
  train::export_release(ctx.cfg.get_string("ckpt"), ctx.cfg.get_string("out"), report);
}

}  // namespace

std::vector<ConfiguredCommand> configured_commands() {
  return {
      {"simulate", "Simulate microservice telemetry with workload regimes and faults", run_simulate},
      {"ingest", "Read raw telemetry into an HDF5 window store", run_ingest},
      {"pretrain", "Data-parallel pre-training of the state encoder", run_pretrain},
      {"embed", "Embed the windows of stores with a release (or the untrained baseline)", run_embed},
      {"cluster", "Partition state embeddings into runtime states (k-means or GMM)", run_cluster},
      {"tune", "Tune per-state task models (AD, FL, FC)", run_tune},
      {"evaluate", "Evaluate task models: report.md, report.json, plots", run_evaluate},
      {"export", "Export a checkpoint as a release (HF-style safetensors, config, tokenizer, model card)",
       run_export},
  };
}

}  // namespace rslicer::cli
