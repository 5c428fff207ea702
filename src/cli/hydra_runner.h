// Runs a configured subcommand the Hydra way: compose (rank 0 only) -> broadcast -> run dir -> run, once or per
// multirun job.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"

namespace rslicer::cli {

struct HydraArgs {
  std::vector<std::string> overrides;
  bool multirun = false;
  std::string cfg;          // "", "job", "hydra" or "all": print and exit
  bool info = false;        // list config groups and options, and exit
  std::string config_dir;   // empty: RSLICER_CONFIG_DIR, ./configs, then the source tree's configs/
  std::string config_name;  // empty: the command's name
};

std::filesystem::path find_config_dir(const std::string& requested);

// Returns the process exit code.
int run_configured(const ConfiguredCommand& command, const HydraArgs& args, const dist::MpiContext& mpi);

}  // namespace rslicer::cli
