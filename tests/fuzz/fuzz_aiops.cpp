// The AIOps 2022 / ART reader: one input = a KPI CSV, the service metric CSV, the span CSV, a log CSV and a ground
// truth CSV (split_parts), written as a cloudbed directory.
#include "core/error.h"
#include "data/aiops_reader.h"
#include "data/ingest_report.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fs = std::filesystem;
  const auto parts = rslicer::fuzz::split_parts(data, size, 5);
  const fs::path dir = rslicer::fuzz::scratch_dir() / "aiops" / "cloudbed-1";
  fs::remove_all(dir.parent_path());
  rslicer::fuzz::write_text(dir / "metric" / "container" / "kpi_container_cpu_usage_seconds.csv", parts[0]);
  rslicer::fuzz::write_text(dir / "metric" / "service" / "metric_service.csv", parts[1]);
  rslicer::fuzz::write_text(dir / "trace" / "all" / "trace_jaeger-span.csv", parts[2]);
  rslicer::fuzz::write_text(dir / "log" / "all" / "log_filebeat-testbed-log-service.csv", parts[3]);
  rslicer::fuzz::write_text(dir.parent_path() / "groundtruth-k8s-1.csv", parts[4]);
  rslicer::data::IngestReport report;
  try {
    rslicer::data::AiopsOptions options;
    options.path = dir;
    options.groundtruth = dir.parent_path() / "groundtruth-k8s-1.csv";
    rslicer::data::read_aiops(options, report);
  } catch (const rslicer::Error&) {
  }
  return 0;
}
