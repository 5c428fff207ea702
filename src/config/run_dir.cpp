#include "config/run_dir.h"

#include "config/composer.h"
#include "config/yaml_value.h"
#include "core/atomic_file.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace rslicer::config {

fs::path write_run_dir(const YAML::Node& composed) {
  fs::path out = find_path(composed, "hydra.runtime.output_dir").Scalar();
  std::error_code ec;
  fs::create_directories(out / ".hydra", ec);
  if (ec) throw Error("cannot create run directory (" + ec.message() + ")", out.string(), "a writable location");
  write_file_atomic(out / ".hydra" / "config.yaml", to_yaml(job_config(composed)));
  write_file_atomic(out / ".hydra" / "overrides.yaml", to_yaml(find_path(composed, "hydra.overrides.task")));
  YAML::Node hydra_only(YAML::NodeType::Map);
  hydra_only["hydra"] = composed["hydra"];
  write_file_atomic(out / ".hydra" / "hydra.yaml", to_yaml(hydra_only));
  return out;
}

}  // namespace rslicer::config
