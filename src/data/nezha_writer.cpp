#include "data/nezha_writer.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/fault_types.h"
#include "data/time_parse.h"

namespace fs = std::filesystem;

namespace rslicer::data {

namespace {

std::string go_time(std::int64_t ns, std::int64_t start_ns) {
  std::string utc = format_utc(ns);  // 2024-03-04T00:00:15Z
  return fmt::format("{} {}.{:09d} +0000 UTC m=+{:.9f}", utc.substr(0, 10), utc.substr(11, 8), ns % 1'000'000'000,
                     static_cast<double>(ns - start_ns) / 1e9 + 1e-9);
}

std::string rfc3339(std::int64_t ns) {
  std::string utc = format_utc(ns);
  return fmt::format("{}.{:09d}Z", utc.substr(0, 19), ns % 1'000'000'000);
}

std::string hh_mm(std::int64_t ns) {
  std::string utc = format_utc(ns);
  return utc.substr(11, 2) + "_" + utc.substr(14, 2);
}

std::string csv_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string fill_template(const std::string& tmpl, const std::string& params) {
  std::string out;
  std::size_t p = 0, start = 0;
  while (true) {
    auto w = tmpl.find("<*>", p);
    if (w == std::string::npos) break;
    out += tmpl.substr(p, w - p);
    auto sep = params.find('\x1f', start);
    out += params.substr(start, sep == std::string::npos ? std::string::npos : sep - start);
    start = sep == std::string::npos ? params.size() : sep + 1;
    p = w + 3;
  }
  return out + tmpl.substr(p);
}

}  // namespace

void write_nezha(const fs::path& dir, const Telemetry& t) {
  const std::int64_t begin = t.begin_ns(), end = t.end_ns();
  if (format_utc(begin).substr(0, 10) != format_utc(end - 1).substr(0, 10))
    throw ConfigError("telemetry spans more than one UTC day (" + format_utc(begin) + " .. " + format_utc(end) + ")",
                      dir.string(), "format=store, or a duration within one day for format=nezha");
  const std::string date = format_utc(begin).substr(0, 10);
  fs::create_directories(dir / "metric");
  fs::create_directories(dir / "trace");
  fs::create_directories(dir / "log");

  // Metrics: one file per pod, one row per sample time, every KPI a column (NaN when absent).
  std::map<std::int32_t, std::map<std::int64_t, std::vector<double>>> rows;
  const std::size_t kpis = t.metric_names.size();
  for (const auto& m : t.metrics) {
    auto& row = rows[m.component][m.time_ns];
    if (row.empty()) row.assign(kpis, std::nan(""));
    row[static_cast<std::size_t>(m.metric)] = m.value;
  }
  std::string header = "Time,TimeStamp,PodName";
  for (const auto& n : t.metric_names.names()) header += "," + n;
  for (const auto& [component, by_time] : rows) {
    const std::string& pod = t.components[static_cast<std::size_t>(component)].name;
    std::string text = header + "\n";
    for (const auto& [time, values] : by_time) {
      text += fmt::format("{},{},{}", go_time(time, begin), time / 1'000'000'000, pod);
      for (double v : values) text += std::isnan(v) ? std::string(",NaN") : fmt::format(",{}", v);
      text += "\n";
    }
    write_file_atomic(dir / "metric" / (pod + "_metric.csv"), text);
  }

  // Traces and logs: one file per minute.
  std::map<std::string, std::string> trace_files, log_files;
  for (const auto& s : t.spans) {
    auto& text = trace_files[hh_mm(s.start_ns)];
    if (text.empty()) text = "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration,StatusCode\n";
    text += fmt::format("{:032x},{:016x},{},{},{},{},{},{},{}\n", s.trace_id, s.span_id,
                        s.parent_id ? fmt::format("{:016x}", s.parent_id) : "root",
                        t.components[static_cast<std::size_t>(s.component)].name,
                        csv_quote(t.operations.names()[static_cast<std::size_t>(s.operation)]), s.start_ns,
                        s.start_ns + s.duration_ns, s.duration_ns / 1000, s.status);
  }
  for (const auto& [minute, text] : trace_files) write_file_atomic(dir / "trace" / (minute + "_trace.csv"), text);
  for (const auto& l : t.logs) {
    auto& text = log_files[hh_mm(l.time_ns)];
    if (text.empty()) text = "Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log\n";
    const Component& c = t.components[static_cast<std::size_t>(l.component)];
    const std::string node = c.node >= 0 ? t.components[static_cast<std::size_t>(c.node)].name : "";
    std::string line = fill_template(t.log_templates.names()[static_cast<std::size_t>(l.template_id)], l.params);
    nlohmann::json docker = {{"log", line + "\n"}, {"stream", "stdout"}, {"time", rfc3339(l.time_ns)}};
    text += fmt::format("{},{},{},{},server,,,{}\n", rfc3339(l.time_ns), l.time_ns, node, c.name, csv_quote(docker.dump()));
  }
  for (const auto& [minute, text] : log_files) write_file_atomic(dir / "log" / (minute + "_log.csv"), text);

  // Faults, by hour as Nezha groups them; durations kept so the reader need not assume one.
  nlohmann::json faults = nlohmann::json::object();
  for (const auto& f : t.faults) {
    std::string utc = format_utc(f.begin_ns);
    faults[std::to_string(std::stoi(utc.substr(11, 2)))].push_back(
        {{"inject_time", utc.substr(0, 10) + " " + utc.substr(11, 8)},
         {"inject_timestamp", std::to_string(f.begin_ns / 1'000'000'000)},
         {"inject_pod", t.components[static_cast<std::size_t>(f.root_cause)].name},
         {"inject_type", canonical_fault_types().at(static_cast<std::size_t>(f.type))},
         {"duration_s", static_cast<double>(f.end_ns - f.begin_ns) / 1e9}});
  }
  write_file_atomic(dir / (date + "-fault_list.json"), faults.dump(4));

  if (!t.regimes.empty()) {
    std::string text = "begin_ns,end_ns,regime\n";
    for (const auto& r : t.regimes)
      text += fmt::format("{},{},{}\n", r.begin_ns, r.end_ns, t.regime_names.at(static_cast<std::size_t>(r.regime)));
    write_file_atomic(dir / "regimes.csv", text);
  }
}

}  // namespace rslicer::data
