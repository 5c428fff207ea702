#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "core/error.h"

namespace rslicer {

void init_logging(const LogOptions& options) {
  auto level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off")
    throw ConfigError("unknown log level '" + options.level + "'", "log.level",
                      "one of trace, debug, info, warn, error, off");
  if (options.rank != 0 && !options.all_ranks && level < spdlog::level::warn) level = spdlog::level::warn;
  // Not registered by name: init_logging may run again once the job's config is known.
  auto logger = std::make_shared<spdlog::logger>("rslicer", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_level(level);
  logger->set_pattern(fmt::format("[%H:%M:%S] [rank {}/{}] [%^%l%$] %v", options.rank, options.world_size));
  spdlog::set_default_logger(logger);
}

}  // namespace rslicer
