// `rslicer ingest`: raw telemetry -> HDF5 window store.
#pragma once

#include "cli/command.h"
#include "data/ingest_report.h"
#include "data/telemetry.h"
#include "data/windowing.h"

namespace rslicer::cli {

data::WindowingOptions windowing_options(const config::Config& data_cfg);
data::Telemetry read_source(const config::Config& data_cfg, data::IngestReport& report);
void run_ingest(const JobContext& ctx);

}  // namespace rslicer::cli
