// Reader of the AIOps 2022 challenge / ART raw layout (as its public loaders describe it; the full release is not
// reachable here, so the reader is tested on hand-made fixtures and the real log samples in ../shared/data):
//   <cloudbed>/metric/{container,istio,jvm,node}/kpi_*.csv   timestamp,cmdb_id,kpi_name,value
//   <cloudbed>/metric/service/metric_service.csv             service,timestamp,rr,sr,mrt,count
//   <cloudbed>/trace/all/trace_jaeger-span.csv               timestamp,cmdb_id,span_id,trace_id,duration,type,
//                                                            status_code,operation_name,parent_span
//   <cloudbed>/log/all/log_filebeat-testbed-log-*.csv        log_id,timestamp,cmdb_id,log_name,value
//   groundtruth-*.csv                                        timestamp,level,cmdb_id,failure_type
// Component ids: "node-6.adservice2-0" is pod adservice2-0 on node-6; "node-6" a node; istio ids keep the pod
// before the first dot. Time units are detected per value by magnitude (s, ms, µs or ns since the epoch).
// Failure types: the 15 Chinese names (and ART's English ones) map to the canonical list (fault_types.h).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "data/ingest_report.h"
#include "data/telemetry.h"

namespace rslicer::data {

struct AiopsOptions {
  std::filesystem::path path;         // the cloudbed directory (metric/, trace/, log/)
  std::filesystem::path groundtruth;  // a groundtruth CSV; empty: labels unknown
  std::string system = "online_boutique";
  std::int64_t fault_duration_ns = 300'000'000'000;
};

Telemetry read_aiops(const AiopsOptions& options, IngestReport& report);

// Seconds, milliseconds, microseconds or nanoseconds since the epoch, told apart by magnitude.
std::optional<std::int64_t> parse_epoch_auto_ns(const std::string& text);

}  // namespace rslicer::data
