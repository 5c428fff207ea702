#include "cli/commands.h"

#include "cli/ingest_command.h"
#include "cli/post_training.h"
#include "cli/pretrain_command.h"
#include "cli/simulate_command.h"
#include "core/error.h"

namespace rslicer::cli {

namespace {
// A subcommand whose stage has not landed yet: it composes its config (so --cfg/--info work) and then says so.
ConfiguredCommand pending(const std::string& name, const std::string& help, const std::string& stage) {
  return {name, help, [name, stage](const JobContext&) {
            throw Error("'rslicer " + name + "' is not implemented in this build yet", "stage [" + stage + "]",
                        "a build that includes it (README, Status)");
          }};
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
      pending("export", "Export a checkpoint as a release (HF-style safetensors)", "checkpoint"),
  };
}

}  // namespace rslicer::cli
