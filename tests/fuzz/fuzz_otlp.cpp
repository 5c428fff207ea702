// The OTLP JSON-lines reader (OpenTelemetry Collector file exporter): one file of arbitrary content.
#include "core/error.h"
#include "data/ingest_report.h"
#include "data/otlp_reader.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto dir = rslicer::fuzz::scratch_dir() / "otlp";
  std::filesystem::create_directories(dir);
  rslicer::fuzz::write_input("otlp/export.jsonl", data, size);
  rslicer::data::IngestReport report;
  try {
    rslicer::data::read_otlp({dir, "", "online_boutique"}, report);
  } catch (const rslicer::Error&) {
  }
  return 0;
}
