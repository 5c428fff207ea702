// What a configured subcommand receives, and how subcommands are declared.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "config/config.h"

namespace rslicer::dist {
class MpiContext;
}

namespace rslicer::cli {

struct JobContext {
  config::Config cfg;             // the composed, resolved job config (no `hydra` key)
  std::filesystem::path run_dir;  // the same on every rank
  int job_num = 0;
  const dist::MpiContext& mpi;
};

struct ConfiguredCommand {
  std::string name;  // also the primary config: configs/<name>.yaml
  std::string help;
  std::function<void(const JobContext&)> run;  // throws rslicer::Error on failure
};

}  // namespace rslicer::cli
