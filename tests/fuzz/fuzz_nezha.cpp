// The Nezha reader: one input = a pod metric CSV, a trace CSV, a log CSV and the fault list JSON (split_parts),
// written as a date directory of the Nezha layout.
#include "core/error.h"
#include "data/ingest_report.h"
#include "data/nezha_reader.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fs = std::filesystem;
  const auto parts = rslicer::fuzz::split_parts(data, size, 4);
  const fs::path dir = rslicer::fuzz::scratch_dir() / "nezha" / "2022-08-22";
  fs::remove_all(dir);
  rslicer::fuzz::write_text(dir / "metric" / "frontend-579b9bff8c-t2dbm_metric.csv", parts[0]);
  rslicer::fuzz::write_text(dir / "trace" / "10_00_trace.csv", parts[1]);
  rslicer::fuzz::write_text(dir / "log" / "10_00_log.csv", parts[2]);
  rslicer::fuzz::write_text(dir / "2022-08-22-fault_list.json", parts[3]);
  rslicer::data::IngestReport report;
  try {
    rslicer::data::NezhaOptions options;
    options.path = dir;
    rslicer::data::read_nezha(options, report);
  } catch (const rslicer::Error&) {
  }
  return 0;
}
