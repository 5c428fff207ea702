// Hydra-style composition of a primary config from config groups (folders of the config directory).
//
// Order, as Hydra 1.1+: hydra/default.yaml (package `hydra`), then the primary's defaults list in order, with
// `_self_` (the file's own keys) where it stands, or last when absent. Group files may have defaults lists of
// their own (relative groups are relative to the file's group; `/abs` paths are absolute) and `override` entries
// that re-choose an option anywhere in the tree; command-line choices win over both.
// Packages: a group's content goes under the group path (`db/engine` -> `db.engine`), `group@pkg` moves it,
// `# @package _global_` as a file's first line puts it at the root.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace rslicer::config {

struct ComposeRequest {
  std::string config_name;             // the primary config: configs/<config_name>.yaml
  std::vector<std::string> overrides;  // command-line overrides of one job (no sweeps)
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
  bool multirun = false;
  int job_num = 0;
};

class Composer {
 public:
  explicit Composer(std::filesystem::path config_dir);

  // The composed, resolved tree: the job's keys plus `hydra` (run dir, choices, overrides, job number).
  YAML::Node compose(const ComposeRequest& request) const;

  const std::filesystem::path& config_dir() const { return config_dir_; }
  std::vector<std::string> primary_configs() const;
  std::vector<std::string> groups() const;                          // "data", "model", "db/engine", ...
  std::vector<std::string> options(const std::string& group) const;  // option names of a group
  bool is_group(const std::string& path) const;

 private:
  std::filesystem::path config_dir_;
};

// The job part of a composed tree (everything but `hydra`).
YAML::Node job_config(const YAML::Node& composed);

}  // namespace rslicer::config
