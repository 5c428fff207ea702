#include "data/store_summary.h"

#include <fmt/format.h>

#include <map>

#include "data/time_parse.h"

namespace rslicer::data {

nlohmann::json summarize_store(const WindowStoreReader& store) {
  const auto& meta = store.meta();
  const auto& windows = store.windows();
  nlohmann::json s;
  s["path"] = store.path().string();
  s["schema_version"] = meta.schema_version;
  s["system"] = meta.system;
  s["source_format"] = meta.source_format;
  s["producer"] = meta.producer;
  s["created_utc"] = meta.created_utc;
  s["time"] = {{"begin", format_utc(meta.t_begin_ns)},
               {"end", format_utc(meta.t_end_ns)},
               {"hours", static_cast<double>(meta.t_end_ns - meta.t_begin_ns) / 3.6e12}};
  s["window"] = {{"length_s", meta.window_length_ns / 1e9}, {"stride_s", meta.window_stride_ns / 1e9},
                 {"count", windows.size()}};
  std::map<std::string, int> kinds;
  for (const auto& c : store.components())
    kinds[c.kind == ComponentKind::pod ? "pods" : c.kind == ComponentKind::service ? "services" : "nodes"]++;
  s["components"] = kinds;
  std::map<std::string, int> labels{{"unknown", 0}, {"normal", 0}, {"abnormal", 0}};
  std::map<std::string, int> fault_windows, fault_events, regimes;
  int coverage[3] = {0, 0, 0}, all_three = 0;
  for (const auto& w : windows) {
    labels[w.label < 0 ? "unknown" : w.label == 0 ? "normal" : "abnormal"]++;
    if (w.fault >= 0) fault_windows[store.fault_types().at(store.faults().at(w.fault).type)]++;
    if (w.regime >= 0 && w.regime < static_cast<int>(store.regime_names().size()))
      regimes[store.regime_names()[w.regime]]++;
    for (int b = 0; b < 3; ++b) coverage[b] += (w.modality_mask >> b) & 1;
    all_three += w.modality_mask == 7;
  }
  for (const auto& f : store.faults()) fault_events[store.fault_types().at(f.type)]++;
  s["labels"] = labels;
  s["faults"] = {{"events", store.faults().size()}, {"events_by_type", fault_events}, {"windows_by_type", fault_windows}};
  if (!regimes.empty()) s["regimes"] = regimes;
  const double n = windows.empty() ? 1.0 : static_cast<double>(windows.size());
  s["modality_coverage"] = {{"metrics", coverage[0] / n}, {"traces", coverage[1] / n}, {"logs", coverage[2] / n},
                            {"all_three", all_three / n}};
  s["streams"] = {
      {"metrics", {{"records", store.stream_length("metrics/time_ns")}, {"bytes", store.stream_bytes("metrics")},
                   {"names", store.metric_names().size()}}},
      {"spans", {{"records", store.stream_length("spans/start_ns")}, {"bytes", store.stream_bytes("spans")},
                 {"operations", store.operations().size()}}},
      {"logs", {{"records", store.stream_length("logs/time_ns")}, {"bytes", store.stream_bytes("logs")},
                {"templates", store.log_templates().size()}}},
      {"windows", {{"bytes", store.stream_bytes("windows")}}}};
  return s;
}

std::string render_summary(const nlohmann::json& s) {
  std::string out;
  out += fmt::format("store      {} (schema {}, {} from {}, {})\n", s["path"].get<std::string>(),
                     s["schema_version"].get<int>(), s["system"].get<std::string>(),
                     s["source_format"].get<std::string>(), s["producer"].get<std::string>());
  out += fmt::format("time       {} .. {} ({:.2f} h)\n", s["time"]["begin"].get<std::string>(),
                     s["time"]["end"].get<std::string>(), s["time"]["hours"].get<double>());
  out += fmt::format("windows    {} (length {} s, stride {} s)\n", s["window"]["count"].get<std::size_t>(),
                     s["window"]["length_s"].get<double>(), s["window"]["stride_s"].get<double>());
  out += "components";
  for (const auto& [k, v] : s["components"].items()) out += fmt::format(" {} {}", v.get<int>(), k);
  out += "\nlabels    ";
  for (const auto& [k, v] : s["labels"].items()) out += fmt::format(" {} {}", k, v.get<int>());
  out += fmt::format("\nfaults     {} events", s["faults"]["events"].get<std::size_t>());
  for (const auto& [k, v] : s["faults"]["events_by_type"].items()) out += fmt::format(", {} {}", v.get<int>(), k);
  out += "\n";
  if (s.contains("regimes")) {
    out += "regimes   ";
    for (const auto& [k, v] : s["regimes"].items()) out += fmt::format(" {} {}", k, v.get<int>());
    out += "\n";
  }
  const auto& m = s["modality_coverage"];
  out += fmt::format("coverage   metrics {:.1f}%  traces {:.1f}%  logs {:.1f}%  all three {:.1f}%\n",
                     100 * m["metrics"].get<double>(), 100 * m["traces"].get<double>(), 100 * m["logs"].get<double>(),
                     100 * m["all_three"].get<double>());
  const auto& st = s["streams"];
  out += fmt::format("size       metrics {} records {:.2f} MB ({} KPIs) | spans {} records {:.2f} MB ({} operations) | "
                     "logs {} records {:.2f} MB ({} templates) | windows {:.2f} MB\n",
                     st["metrics"]["records"].get<std::int64_t>(), st["metrics"]["bytes"].get<double>() / 1e6,
                     st["metrics"]["names"].get<std::size_t>(), st["spans"]["records"].get<std::int64_t>(),
                     st["spans"]["bytes"].get<double>() / 1e6, st["spans"]["operations"].get<std::size_t>(),
                     st["logs"]["records"].get<std::int64_t>(), st["logs"]["bytes"].get<double>() / 1e6,
                     st["logs"]["templates"].get<std::size_t>(), st["windows"]["bytes"].get<double>() / 1e6);
  return out;
}

}  // namespace rslicer::data
