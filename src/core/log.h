// Logging with the rank prefix. Only rank 0 logs INFO and below unless every rank is asked to.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace rslicer {

struct LogOptions {
  int rank = 0;
  int world_size = 1;
  std::string level = "info";  // trace, debug, info, warn, error, off
  bool all_ranks = false;      // when false, ranks other than 0 log only warnings and errors
};

// Sets up spdlog's default logger (stderr, "[time] [rank r/w] [level] message").
void init_logging(const LogOptions& options);

}  // namespace rslicer
