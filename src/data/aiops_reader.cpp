#include "data/aiops_reader.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/text.h"
#include "data/csv.h"
#include "data/fault_types.h"
#include "data/log_text.h"
#include "data/time_parse.h"

namespace fs = std::filesystem;

namespace rslicer::data {

std::optional<std::int64_t> parse_epoch_auto_ns(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  std::int64_t out = 0;
  const long long integer = std::strtoll(text.c_str(), &end, 10);
  if (*end == '\0') {  // integers stay exact (a double loses nanoseconds at this magnitude)
    if (integer <= 0) return std::nullopt;
    out = integer >= 100'000'000'000'000'000LL ? integer
          : integer >= 100'000'000'000'000LL   ? integer * 1'000
          : integer >= 100'000'000'000LL       ? integer * 1'000'000
                                               : integer * 1'000'000'000;
  } else {
    const double v = std::strtod(text.c_str(), &end);
    if (*end != '\0' || !std::isfinite(v) || v <= 0) return std::nullopt;
    out = static_cast<std::int64_t>(v >= 1e17 ? v : v >= 1e14 ? v * 1e3 : v >= 1e11 ? v * 1e6 : v * 1e9);
  }
  return is_plausible_time_ns(out) ? std::optional<std::int64_t>(out) : std::nullopt;
}

namespace {

std::vector<fs::path> csv_files(const fs::path& dir, const std::string& prefix = "") {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".csv" && starts_with(e.path().filename().string(), prefix))
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// "node-6.adservice2-0" -> pod on node; "node-6" -> node; "adservice2-0.xyz" (istio) -> pod.
std::int32_t component_of(Telemetry& t, const std::string& cmdb_id) {
  if (starts_with(cmdb_id, "node-")) {
    auto dot = cmdb_id.find('.');
    if (dot == std::string::npos) return t.add_component(cmdb_id, ComponentKind::node);
    return t.add_pod(cmdb_id.substr(dot + 1), cmdb_id.substr(0, dot));
  }
  auto dot = cmdb_id.find('.');
  return t.add_pod(dot == std::string::npos ? cmdb_id : cmdb_id.substr(0, dot));
}

struct Columns {
  std::vector<std::string> header;
  std::size_t at(const std::string& name, const std::string& where) const { return column_index(header, name, where); }
};

void read_kpi_file(const fs::path& file, Telemetry& t, IngestReport& report) {
  CsvReader csv(file);
  Columns c;
  if (!csv.next(c.header)) return;
  const std::string w = file.string();
  const auto ts = c.at("timestamp", w), id = c.at("cmdb_id", w), kpi = c.at("kpi_name", w), val = c.at("value", w);
  std::vector<std::string> row;
  while (csv.next(row)) {
    report.count_row();
    if (row.size() != c.header.size()) {
      report.malformed(csv.where(), std::to_string(row.size()) + " fields", std::to_string(c.header.size()) + " fields");
      continue;
    }
    auto time = parse_epoch_auto_ns(row[ts]);
    char* end = nullptr;
    const double v = std::strtod(row[val].c_str(), &end);
    if (row[val].empty() || row[val] == "NaN" || row[val] == "nan") {
      report.count_missing_value();
      continue;
    }
    if (!time || *end != '\0' || !std::isfinite(v) || !is_valid_utf8(row[id]) || !is_valid_utf8(row[kpi])) {
      report.malformed(csv.where(), "bad timestamp, value or name", "epoch time, a finite number, UTF-8 names");
      continue;
    }
    t.metrics.push_back({*time, component_of(t, row[id]), t.metric_names.intern(row[kpi]), static_cast<float>(v)});
  }
  report.count_bytes(csv.bytes_read());
}

void read_service_metrics(const fs::path& file, Telemetry& t, IngestReport& report) {
  CsvReader csv(file);
  Columns c;
  if (!csv.next(c.header)) return;
  const std::string w = file.string();
  const auto svc = c.at("service", w), ts = c.at("timestamp", w);
  std::vector<std::string> row;
  while (csv.next(row)) {
    report.count_row();
    auto time = row.size() == c.header.size() ? parse_epoch_auto_ns(row[ts]) : std::nullopt;
    if (!time) {
      report.malformed(csv.where(), "bad row", "service,timestamp,rr,sr,mrt,count");
      continue;
    }
    const std::int32_t comp = t.add_component(row[svc], ComponentKind::service);
    for (std::size_t k = 0; k < row.size(); ++k) {
      if (k == svc || k == ts) continue;
      char* end = nullptr;
      const double v = std::strtod(row[k].c_str(), &end);
      if (row[k].empty() || *end != '\0' || !std::isfinite(v)) {
        report.count_missing_value();
        continue;
      }
      t.metrics.push_back({*time, comp, t.metric_names.intern("service_" + c.header[k]), static_cast<float>(v)});
    }
  }
  report.count_bytes(csv.bytes_read());
}

void read_spans(const fs::path& file, Telemetry& t, IngestReport& report) {
  CsvReader csv(file);
  Columns c;
  if (!csv.next(c.header)) return;
  const std::string w = file.string();
  const auto ts = c.at("timestamp", w), id = c.at("cmdb_id", w), span = c.at("span_id", w), trace = c.at("trace_id", w),
             dur = c.at("duration", w), status = c.at("status_code", w), op = c.at("operation_name", w),
             parent = c.at("parent_span", w);
  std::vector<std::string> row;
  auto hash = [](const std::string& s) {  // ids may be hex or arbitrary strings: FNV-1a, 0 kept for "no parent"
    if (s.empty()) return std::uint64_t{0};
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ULL;
    return h | 1;
  };
  while (csv.next(row)) {
    report.count_row();
    auto time = row.size() == c.header.size() ? parse_epoch_auto_ns(row[ts]) : std::nullopt;
    char* end = nullptr;
    const double d = time ? std::strtod(row[dur].c_str(), &end) : 0;
    if (!time || *end != '\0' || d < 0) {
      report.malformed(csv.where(), "bad timestamp or duration", "epoch time and a duration in ms");
      continue;
    }
    Span s{};
    s.trace_id = hash(row[trace]);
    s.span_id = hash(row[span]);
    s.parent_id = hash(row[parent]);
    s.start_ns = *time;
    s.duration_ns = static_cast<std::int64_t>(d * 1e6);  // AIOps 2022 durations are milliseconds
    s.component = component_of(t, row[id]);
    s.operation = t.operations.intern(row[op]);
    const int code = std::atoi(row[status].c_str());
    s.status = static_cast<std::int16_t>(code == 0 || code == 200 ? 0 : code);
    t.spans.push_back(s);
  }
  report.count_bytes(csv.bytes_read());
}

void read_logs(const fs::path& file, Telemetry& t, LogCollector& logs, IngestReport& report) {
  CsvReader csv(file);
  Columns c;
  if (!csv.next(c.header)) return;
  const std::string w = file.string();
  const auto ts = c.at("timestamp", w), id = c.at("cmdb_id", w), val = c.at("value", w);
  std::vector<std::string> row;
  while (csv.next(row)) {
    report.count_row();
    auto time = row.size() == c.header.size() ? parse_epoch_auto_ns(row[ts]) : std::nullopt;
    if (!time) {
      report.malformed(csv.where(), "bad row or timestamp", "log_id,timestamp,cmdb_id,log_name,value");
      continue;
    }
    std::string line = row[val];
    // .NET lines carry ANSI colour codes: drop ESC [ ... m sequences.
    for (std::size_t p; (p = line.find("\x1b[")) != std::string::npos;) {
      auto m = line.find('m', p);
      line.erase(p, m == std::string::npos ? std::string::npos : m - p + 1);
    }
    if (!is_valid_utf8(line)) {
      report.malformed(csv.where(), "non-UTF-8 bytes in value", "UTF-8 text");
      continue;
    }
    logs.add(*time, component_of(t, row[id]), std::move(line));
  }
  report.count_bytes(csv.bytes_read());
}

void read_groundtruth(const AiopsOptions& o, Telemetry& t, IngestReport& report) {
  CsvReader csv(o.groundtruth);
  Columns c;
  if (!csv.next(c.header)) return;
  const std::string w = o.groundtruth.string();
  const auto ts = c.at("timestamp", w), level = c.at("level", w), id = c.at("cmdb_id", w), type = c.at("failure_type", w);
  std::vector<std::string> row;
  while (csv.next(row)) {
    report.count_row();
    auto time = row.size() == c.header.size() ? parse_epoch_auto_ns(row[ts]) : std::nullopt;
    const std::int16_t fault_type = time ? fault_type_id(row[type]) : std::int16_t{-1};
    if (!time || fault_type < 0) {
      report.malformed(csv.where(), "unknown failure type or time '" + (row.size() > type ? row[type] : "") + "'",
                       "one of the 15 AIOps 2022 failure types and an epoch time");
      continue;
    }
    ComponentKind kind = row[level] == "node" ? ComponentKind::node : row[level] == "service" ? ComponentKind::service
                                                                                              : ComponentKind::pod;
    std::int32_t root = kind == ComponentKind::service ? t.add_component(row[id], ComponentKind::service) : component_of(t, row[id]);
    t.faults.push_back({*time, *time + o.fault_duration_ns, fault_type, root, kind});
  }
}

}  // namespace

Telemetry read_aiops(const AiopsOptions& o, IngestReport& report) {
  if (!fs::is_directory(o.path))
    throw Error("AIOps cloudbed directory not found", o.path.string(), "a <date>-cloudbed<N> directory (data.path=...)");
  if (!fs::is_directory(o.path / "metric") && !fs::is_directory(o.path / "trace") && !fs::is_directory(o.path / "log"))
    throw Error("not an AIOps 2022 cloudbed directory (no metric/, trace/ or log/)", o.path.string(),
                "<date>-cloudbed<N>/ with metric/{container,istio,jvm,node}, trace/all, log/all");
  Telemetry t;
  t.source_format = "aiops2022";
  t.system = o.system;
  for (const char* kind : {"node", "container", "istio", "jvm"})
    for (const auto& f : csv_files(o.path / "metric" / kind)) read_kpi_file(f, t, report);
  for (const auto& f : csv_files(o.path / "metric" / "service")) read_service_metrics(f, t, report);
  for (const auto& f : csv_files(o.path / "trace" / "all")) read_spans(f, t, report);
  LogCollector logs;
  for (const auto& f : csv_files(o.path / "log" / "all")) read_logs(f, t, logs, report);
  logs.finish(t);
  if (!o.groundtruth.empty()) {
    if (!fs::exists(o.groundtruth))
      throw Error("groundtruth file not found", o.groundtruth.string(), "groundtruth-k8s-<N>-<date>.csv");
    read_groundtruth(o, t, report);
  }
  t.labels_known = !o.groundtruth.empty();
  if (t.metrics.empty()) report.note("no metrics read (modality mask)");
  if (t.spans.empty()) report.note("no spans read (modality mask)");
  if (t.logs.empty()) report.note("no logs read (modality mask)");
  if (std::size_t unsorted = t.sort_by_time())
    report.note(std::to_string(unsorted) + " records were out of time order in the input; sorted");
  return t;
}

}  // namespace rslicer::data
