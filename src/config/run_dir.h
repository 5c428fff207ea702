// The run directory of a job: created once (by rank 0 under MPI) with Hydra's .hydra/ record of the run.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>

namespace rslicer::config {

// Creates hydra.runtime.output_dir and writes .hydra/config.yaml (the job config), .hydra/overrides.yaml and
// .hydra/hydra.yaml, each atomically. Returns the output directory.
std::filesystem::path write_run_dir(const YAML::Node& composed);

}  // namespace rslicer::config
