// Runtime collection from live systems: OpenTelemetry Collector file-exporter output (OTLP JSON, one export
// request per line: resourceSpans / resourceLogs / resourceMetrics), every *.json or *.jsonl file of a directory,
// plus an optional label file for controlled fault injection (Chaos Mesh):
//   name,kind,target,start,end     e.g.  delay-cart,NetworkChaos/delay,cartservice-7d9c-abcde,2024-03-04T10:00:00Z,2024-03-04T10:05:00Z
// Components come from resource attributes: k8s.pod.name (else service.name), k8s.node.name, service.name.
#pragma once

#include <filesystem>

#include "data/ingest_report.h"
#include "data/telemetry.h"

namespace rslicer::data {

struct OtlpOptions {
  std::filesystem::path path;    // a directory of OTLP JSON lines files
  std::filesystem::path labels;  // a Chaos Mesh label CSV; empty: labels unknown
  std::string system = "online_boutique";
};

Telemetry read_otlp(const OtlpOptions& options, IngestReport& report);

}  // namespace rslicer::data
