#include "cli/hydra_runner.h"

#include "cli/slurm_launcher.h"

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "config/composer.h"
#include "config/run_dir.h"
#include "config/sweep.h"
#include "config/yaml_value.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "dist/mpi_context.h"

namespace fs = std::filesystem;

namespace rslicer::cli {

fs::path find_config_dir(const std::string& requested) {
  if (!requested.empty()) return requested;
  if (const char* env = std::getenv("RSLICER_CONFIG_DIR")) return env;
  if (fs::exists("configs/pretrain.yaml")) return "configs";
  return RSLICER_SOURCE_CONFIG_DIR;
}

namespace {

// Rank 0 runs `produce`; its text, or its error, reaches every rank. An error is rethrown on every rank so
// that all exit with the same code; rank 0 prints it once.
class RankZeroError : public Error {
 public:
  using Error::Error;
};

template <typename Produce>
std::string on_root_then_broadcast(const dist::MpiContext& mpi, Produce produce) {
  std::string payload;
  if (mpi.is_root()) {
    try {
      payload = "ok\n" + produce();
    } catch (const Error& e) {
      payload = "error\n" + std::to_string(static_cast<int>(e.exit_code())) + "\n" + e.what_part() + "\n" +
                e.where() + "\n" + e.expected();
      if (mpi.world_size() == 1) throw;
      mpi.broadcast(payload);
      std::cerr << e.one_line() << std::endl;
      throw RankZeroError(e.what_part(), e.where(), e.expected(), e.exit_code());
    }
  }
  if (mpi.world_size() > 1) payload = mpi.broadcast(payload);
  if (starts_with(payload, "ok\n")) return payload.substr(3);
  auto lines = split(payload, '\n');
  throw RankZeroError(lines.at(2), lines.at(3), lines.at(4), static_cast<ExitCode>(std::stoi(lines.at(1))));
}

void print_info(const config::Composer& composer, const std::string& config_name) {
  std::cout << "Config directory: " << composer.config_dir().string() << "\n";
  std::cout << "Primary config: " << config_name << " (others: " << join(composer.primary_configs(), ", ")
            << ")\n\nConfig groups (choose with group=option, add with +group=option):\n";
  for (const auto& group : composer.groups())
    std::cout << "  " << group << ": " << join(composer.options(group), ", ") << "\n";
}

}  // namespace

int run_configured(const ConfiguredCommand& command, const HydraArgs& args, const dist::MpiContext& mpi) {
  const std::string config_name = args.config_name.empty() ? command.name : args.config_name;
  try {
    const config::Composer composer(find_config_dir(args.config_dir));
    if (args.info) {
      if (mpi.is_root()) print_info(composer, config_name);
      return 0;
    }
    if (!args.cfg.empty() && args.cfg != "job" && args.cfg != "hydra" && args.cfg != "all")
      throw ConfigError("unknown --cfg '" + args.cfg + "'", "command line", "--cfg job, --cfg hydra or --cfg all");

    const auto now = std::chrono::system_clock::now();  // one ${now:...} for the whole run / sweep
    std::vector<std::vector<std::string>> jobs{args.overrides};
    if (args.multirun) {
      std::string text = on_root_then_broadcast(mpi, [&] {
        YAML::Node list(YAML::NodeType::Sequence);
        for (const auto& job : config::expand_sweeps(args.overrides, composer)) {
          YAML::Node one(YAML::NodeType::Sequence);
          for (const auto& o : job) one.push_back(config::string_node(o));
          list.push_back(one);
        }
        return config::to_yaml(list);
      });
      jobs = YAML::Load(text).as<std::vector<std::vector<std::string>>>();
      if (mpi.is_root() && args.cfg.empty())
        spdlog::info("multirun: {} job(s) of '{}'", jobs.size(), config_name);
      if (args.cfg.empty() && !jobs.empty()) {
        // The launcher is a setting of the composed config (hydra.launcher.name), read from the first job.
        std::string hydra_text = on_root_then_broadcast(mpi, [&] {
          config::ComposeRequest request{config_name, jobs[0], now, true, 0};
          YAML::Node composed = composer.compose(request);
          const std::string name = config::find_path(composed, "hydra.launcher.name").Scalar();
          if (name != "basic" && name != "slurm")
            throw ConfigError("unknown launcher '" + name + "'", "hydra.launcher.name", "basic or slurm");
          return config::to_yaml(composed["hydra"]);
        });
        YAML::Node hydra = YAML::Load(hydra_text);
        if (hydra["launcher"]["name"].as<std::string>() == "slurm") {
          if (mpi.is_root()) {
            init_logging({mpi.rank(), mpi.world_size(), "info", false});
            launch_sweep_on_slurm(command.name, jobs, hydra, composer.config_dir());
          }
          return 0;
        }
      }
    }

    for (std::size_t num = 0; num < jobs.size(); ++num) {
      std::string composed_text = on_root_then_broadcast(mpi, [&] {
        config::ComposeRequest request{config_name, jobs[num], now, args.multirun, static_cast<int>(num)};
        YAML::Node composed = composer.compose(request);
        if (args.cfg.empty()) config::write_run_dir(composed);  // rank 0 creates the run dir, once
        return config::to_yaml(composed);
      });
      YAML::Node composed = YAML::Load(composed_text);
      if (!args.cfg.empty()) {
        if (mpi.is_root()) {
          YAML::Node shown(YAML::NodeType::Map);  // yaml-cpp: assignment writes through handles, so build anew
          if (args.cfg == "job") shown.reset(config::job_config(composed));
          if (args.cfg == "hydra") shown["hydra"] = composed["hydra"];
          if (args.cfg == "all") shown.reset(composed);
          std::cout << config::to_yaml(shown);
        }
        continue;
      }
      mpi.barrier();  // the run dir exists before any rank uses it
      config::Config job(config::job_config(composed));
      init_logging({mpi.rank(), mpi.world_size(), job.get_string("log.level"), job.get_bool("log.all_ranks")});
      fs::path run_dir = config::find_path(composed, "hydra.runtime.output_dir").Scalar();
      if (args.multirun)
        spdlog::info("job {}/{}: {} -> {}", num, jobs.size(), join(jobs[num], " "), run_dir.string());
      else
        spdlog::info("run dir: {}", run_dir.string());
      command.run(JobContext{job, run_dir, static_cast<int>(num), mpi});
    }
    return 0;
  } catch (const RankZeroError& e) {
    return static_cast<int>(e.exit_code());  // printed once, by rank 0
  }
}

}  // namespace rslicer::cli
