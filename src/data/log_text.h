// Turning raw log lines into records: level detection and template mining shared by every reader.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/drain.h"
#include "data/telemetry.h"

namespace rslicer::data {

LogLevel detect_log_level(const std::string& line);

// Collects raw log lines, mines templates (Drain) and, once every line is in, turns them into LogRecords whose
// parameters match each cluster's final template.
class LogCollector {
 public:
  void add(std::int64_t time_ns, std::int32_t component, std::string line, LogLevel level = LogLevel::unknown);
  // Appends the records to telemetry.logs and the templates to telemetry.log_templates.
  void finish(Telemetry& telemetry);
  std::size_t size() const { return lines_.size(); }

 private:
  struct Pending {
    std::int64_t time_ns;
    std::int32_t component;
    LogLevel level;
    std::int32_t cluster;
    std::string line;
  };
  DrainParser drain_;
  std::vector<Pending> lines_;
};

}  // namespace rslicer::data
