#include "data/otlp_reader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

#include "core/error.h"
#include "core/text.h"
#include "data/aiops_reader.h"
#include "data/csv.h"
#include "data/fault_types.h"
#include "data/log_text.h"
#include "data/time_parse.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace rslicer::data {

namespace {

std::string attribute(const json& resource, const std::string& key) {
  if (!resource.is_object() || !resource.contains("attributes")) return "";
  for (const auto& a : resource["attributes"])
    if (a.value("key", "") == key && a.contains("value")) {
      const auto& v = a["value"];
      if (v.contains("stringValue")) return v["stringValue"].get<std::string>();
    }
  return "";
}

std::int32_t component_of(Telemetry& t, const json& resource) {
  const std::string pod = attribute(resource, "k8s.pod.name"), node = attribute(resource, "k8s.node.name"),
                    service = attribute(resource, "service.name");
  if (!pod.empty()) {
    std::int32_t id = t.add_pod(pod, node);
    return id;
  }
  return t.add_component(service.empty() ? "unknown" : service, ComponentKind::service);
}

std::int64_t nanos(const json& v) {
  if (v.is_string()) return std::stoll(v.get<std::string>());
  if (v.is_number()) return v.get<std::int64_t>();
  return 0;
}

std::uint64_t hex_id(const json& v) {
  if (!v.is_string() || v.get<std::string>().empty()) return 0;
  std::string s = v.get<std::string>();
  if (s.size() > 16) s = s.substr(s.size() - 16);
  return std::strtoull(s.c_str(), nullptr, 16);
}

LogLevel level_of(const json& record) {
  const int n = record.value("severityNumber", 0);
  if (n >= 17) return LogLevel::error;
  if (n >= 13) return LogLevel::warn;
  if (n >= 9) return LogLevel::info;
  if (n >= 1) return LogLevel::debug;
  return LogLevel::unknown;
}

void read_line(const json& j, Telemetry& t, LogCollector& logs) {
  for (const auto& rs : j.value("resourceSpans", json::array())) {
    const std::int32_t comp = component_of(t, rs.value("resource", json::object()));
    for (const auto& ss : rs.value("scopeSpans", json::array()))
      for (const auto& s : ss.value("spans", json::array())) {
        const std::int64_t start = nanos(s.value("startTimeUnixNano", json())), end = nanos(s.value("endTimeUnixNano", json()));
        const int code = s.contains("status") ? s["status"].value("code", 0) : 0;
        t.spans.push_back({hex_id(s.value("traceId", json())), hex_id(s.value("spanId", json())),
                           hex_id(s.value("parentSpanId", json())), start, std::max<std::int64_t>(0, end - start), comp,
                           t.operations.intern(s.value("name", "")), static_cast<std::int16_t>(code == 2 ? 1 : 0)});
      }
  }
  for (const auto& rl : j.value("resourceLogs", json::array())) {
    const std::int32_t comp = component_of(t, rl.value("resource", json::object()));
    for (const auto& sl : rl.value("scopeLogs", json::array()))
      for (const auto& r : sl.value("logRecords", json::array())) {
        std::string body = r.contains("body") && r["body"].contains("stringValue") ? r["body"]["stringValue"].get<std::string>() : "";
        std::int64_t time = nanos(r.value("timeUnixNano", json()));
        if (time == 0) time = nanos(r.value("observedTimeUnixNano", json()));
        logs.add(time, comp, body, level_of(r));
      }
  }
  for (const auto& rm : j.value("resourceMetrics", json::array())) {
    const std::int32_t comp = component_of(t, rm.value("resource", json::object()));
    for (const auto& sm : rm.value("scopeMetrics", json::array()))
      for (const auto& m : sm.value("metrics", json::array())) {
        const std::int32_t metric = t.metric_names.intern(m.value("name", ""));
        for (const char* kind : {"gauge", "sum"}) {
          if (!m.contains(kind)) continue;
          for (const auto& p : m[kind].value("dataPoints", json::array())) {
            double v = p.contains("asDouble") ? p["asDouble"].get<double>()
                       : p.contains("asInt")  ? static_cast<double>(nanos(p["asInt"]))
                                              : 0.0;
            t.metrics.push_back({nanos(p.value("timeUnixNano", json())), comp, metric, static_cast<float>(v)});
          }
        }
      }
  }
}

void read_labels(const OtlpOptions& o, Telemetry& t, IngestReport& report) {
  CsvReader csv(o.labels);
  std::vector<std::string> header, row;
  if (!csv.next(header)) return;
  const std::string w = o.labels.string();
  const auto kind = column_index(header, "kind", w), target = column_index(header, "target", w),
             start = column_index(header, "start", w), end = column_index(header, "end", w);
  while (csv.next(row)) {
    report.count_row();
    if (row.size() != header.size()) {
      report.malformed(csv.where(), "wrong number of fields", "name,kind,target,start,end");
      continue;
    }
    auto time = [](const std::string& s) {
      auto t = parse_datetime_ns(s);
      return t ? t : parse_epoch_auto_ns(s);
    };
    auto b = time(row[start]), e = time(row[end]);
    const std::int16_t type = fault_type_id(row[kind]);
    if (!b || !e || *e <= *b || type < 0) {
      report.malformed(csv.where(), "bad kind '" + row[kind] + "' or times", "a Chaos Mesh kind/action and start < end");
      continue;
    }
    t.faults.push_back({*b, *e, type, t.add_pod(row[target]), ComponentKind::pod});
  }
}

}  // namespace

Telemetry read_otlp(const OtlpOptions& o, IngestReport& report) {
  if (!fs::is_directory(o.path))
    throw Error("OTLP directory not found", o.path.string(), "a directory of file-exporter *.json / *.jsonl files");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(o.path))
    if (e.is_regular_file() && (e.path().extension() == ".json" || e.path().extension() == ".jsonl")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw Error("no *.json or *.jsonl files", o.path.string(), "OpenTelemetry Collector file-exporter output");
  Telemetry t;
  t.source_format = "otlp";
  t.system = o.system;
  LogCollector logs;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    std::size_t number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (trim(line).empty()) continue;
      report.count_row();
      report.count_bytes(line.size() + 1);
      auto j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        report.malformed(f.string() + ":" + std::to_string(number), "not a JSON object", "one OTLP export request per line");
        continue;
      }
      try {
        read_line(j, t, logs);
      } catch (const std::exception& e) {
        report.malformed(f.string() + ":" + std::to_string(number), std::string("unexpected OTLP shape (") + e.what() + ")",
                         "OTLP JSON as the collector's file exporter writes it");
      }
    }
  }
  logs.finish(t);
  if (!o.labels.empty()) read_labels(o, t, report);
  t.labels_known = !o.labels.empty();
  if (std::size_t unsorted = t.sort_by_time())
    report.note(std::to_string(unsorted) + " records were out of time order in the input; sorted");
  return t;
}

}  // namespace rslicer::data
