// Reader of the Nezha data set layout (FSE 2023; ../shared/data/README.md), also written by `rslicer simulate`:
//   <date dir>/metric/<pod>_metric.csv   one row a minute per pod: Time (Go time string), TimeStamp (s), KPIs
//   <date dir>/metric/front_service.csv  entry service: success rate and latency percentiles
//   <date dir>/trace/HH_MM_trace.csv     spans: start/end in ns, Duration in µs, ParentID "root" for roots
//   <date dir>/log/HH_MM_log.csv         Docker JSON log lines in the Log column
//   <date dir>/<date>-fault_list.json    {"hour": [{inject_time, inject_timestamp, inject_pod, inject_type}]}
//   <date dir>/regimes.csv               (simulator only) ground-truth workload regimes: begin_ns,end_ns,regime
// Quirk handled: Online Boutique's adservice TimeStamp is off by about 2e8 s; detected against Time, corrected
// from Time and reported.
#pragma once

#include <filesystem>
#include <string>

#include "data/ingest_report.h"
#include "data/telemetry.h"

namespace rslicer::data {

struct NezhaOptions {
  std::filesystem::path path;  // a date directory, or the data set root with `date` set
  std::string date;            // with a root path: rca_data/<date> (or construct_data/<date>)
  std::string phase = "rca";   // rca (faults injected) | construct (fault-free)
  std::string system = "auto"; // auto: train_ticket when pods are named ts-*, else online_boutique
  std::int64_t fault_duration_ns = 300'000'000'000;
  bool strict = false;
};

Telemetry read_nezha(const NezhaOptions& options, IngestReport& report);

// The date directory the options name (checked), for messages and tests.
std::filesystem::path nezha_date_dir(const NezhaOptions& options);

}  // namespace rslicer::data
