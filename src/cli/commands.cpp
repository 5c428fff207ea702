#include "cli/commands.h"

#include "cli/ingest_command.h"
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
      pending("embed", "Embed the windows of a store with a trained model", "tuning"),
      pending("cluster", "Partition state embeddings into runtime states", "tuning"),
      pending("tune", "Tune per-state task models (AD, FL, FC)", "tuning"),
      pending("evaluate", "Evaluate task models and write report.md/report.json", "tuning"),
      pending("export", "Export a checkpoint as a release (HF-style safetensors)", "checkpoint"),
  };
}

}  // namespace rslicer::cli
