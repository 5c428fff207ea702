// OmegaConf-style interpolation over a composed tree:
//   ${a.b}                 the node at a.b (its type is kept when the value is exactly one interpolation)
//   "run_${a.b}"           string interpolation
//   ${.sibling} ${..uncle} relative to the node's own map
//   ${oc.env:VAR[,default]} an environment variable (default typed as YAML)
//   ${now:%Y-%m-%d}        the composition time (one instant per composition), strftime format
//   ${hydra:runtime.output_dir}  a key under hydra (as Hydra's resolver)
//   \${literal}            an escaped, literal "${"
// Cycles are errors that name the cycle ("a -> b -> a").
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <string>

namespace rslicer::config {

struct ResolveContext {
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

// Resolves every interpolation in `root`, in place.
void resolve_all(YAML::Node& root, const ResolveContext& context);

bool has_interpolation(const std::string& text);

// strftime of `time` in local time (Hydra's ${now:...} uses local time).
std::string format_time(std::chrono::system_clock::time_point time, const std::string& format);

}  // namespace rslicer::config
