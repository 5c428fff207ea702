// The Slurm launcher for multirun (hydra.launcher.name=slurm), after Hydra's submitit launcher: the sweep's jobs
// become one Slurm job array (a task per combination, each launched with launch/srun.sh), followed by a collector
// job (--dependency=afterany) that gathers every run's results into <sweep dir>/results.jsonl and results.md.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>
#include <vector>

namespace rslicer::cli {

struct SlurmSweep {
  std::filesystem::path sweep_dir, array_script, collect_script;
  std::string array_job_id, collect_job_id;  // empty when not submitted
};

// `hydra` is the composed hydra section of the first job (launcher settings, sweep dir).
SlurmSweep launch_sweep_on_slurm(const std::string& command, const std::vector<std::vector<std::string>>& jobs,
                                 const YAML::Node& hydra, const std::filesystem::path& config_dir);

}  // namespace rslicer::cli
