#include "data/log_text.h"

#include <cctype>

namespace rslicer::data {

LogLevel detect_log_level(const std::string& line) {
  // The first level word in the line wins: "19:50:59.971 INFO  t.s.Travel...", "severity: warning", "[ERROR]".
  std::string word;
  auto classify = [](const std::string& w) -> LogLevel {
    if (w == "error" || w == "err" || w == "fatal" || w == "severe" || w == "critical" || w == "e") return LogLevel::error;
    if (w == "warn" || w == "warning" || w == "w") return LogLevel::warn;
    if (w == "info" || w == "information" || w == "notice" || w == "i") return LogLevel::info;
    if (w == "debug" || w == "trace" || w == "d") return LogLevel::debug;
    return LogLevel::unknown;
  };
  for (std::size_t i = 0; i <= line.size(); ++i) {
    char c = i < line.size() ? line[i] : ' ';
    if (std::isalpha(static_cast<unsigned char>(c))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      continue;
    }
    if (word.size() > 1) {  // single letters only count as levels in glog style "E0123"
      LogLevel level = classify(word);
      if (level != LogLevel::unknown) return level;
    }
    word.clear();
  }
  return LogLevel::unknown;
}

void LogCollector::add(std::int64_t time_ns, std::int32_t component, std::string line, LogLevel level) {
  if (level == LogLevel::unknown) level = detect_log_level(line);
  std::int32_t cluster = drain_.add(line);
  lines_.push_back({time_ns, component, level, cluster, std::move(line)});
}

void LogCollector::finish(Telemetry& telemetry) {
  std::vector<std::int32_t> template_ids(drain_.size());
  for (std::size_t c = 0; c < drain_.size(); ++c)
    template_ids[c] = telemetry.log_templates.intern(drain_.template_of(static_cast<std::int32_t>(c)));
  telemetry.logs.reserve(telemetry.logs.size() + lines_.size());
  for (auto& p : lines_)
    telemetry.logs.push_back({p.time_ns, p.component, p.level, template_ids[static_cast<std::size_t>(p.cluster)],
                              drain_.params_of(p.cluster, p.line)});
  lines_.clear();
}

}  // namespace rslicer::data
