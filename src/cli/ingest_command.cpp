#include "cli/ingest_command.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "core/error.h"
#include "data/ingest_report.h"
#include "data/aiops_reader.h"
#include "data/nezha_reader.h"
#include "data/otlp_reader.h"
#include "data/store_summary.h"
#include "data/window_store.h"
#include "data/windowing.h"
#include "dist/mpi_context.h"

namespace rslicer::cli {

data::WindowingOptions windowing_options(const config::Config& data_cfg) {
  return {static_cast<std::int64_t>(data_cfg.get_double("window.length_s") * 1e9),
          static_cast<std::int64_t>(data_cfg.get_double("window.stride_s") * 1e9)};
}

data::Telemetry read_source(const config::Config& d, data::IngestReport& report) {
  const std::string format = d.get_string("format");
  if (format == "nezha" || format == "simulated") {
    data::NezhaOptions o;
    o.path = d.get_string("path");
    o.date = d.is_null("date") ? "" : d.get_string("date");
    o.phase = d.get_string("phase");
    o.system = d.get_string("system");
    o.fault_duration_ns = static_cast<std::int64_t>(d.get_double("fault_duration_s") * 1e9);
    o.strict = d.get_bool("strict");
    if (o.phase != "rca" && o.phase != "construct")
      throw ConfigError("unknown phase '" + o.phase + "'", d.full_path("phase"), "rca or construct");
    data::Telemetry t = data::read_nezha(o, report);
    if (format == "simulated") t.source_format = "simulated";
    return t;
  }
  if (format == "aiops2022" || format == "art") {
    data::AiopsOptions o;
    o.path = d.get_string("path");
    o.groundtruth = d.is_null("groundtruth") ? "" : d.get_string("groundtruth");
    o.system = d.get_string("system");
    o.fault_duration_ns = static_cast<std::int64_t>(d.get_double("fault_duration_s") * 1e9);
    return data::read_aiops(o, report);
  }
  if (format == "otlp") {
    data::OtlpOptions o;
    o.path = d.get_string("path");
    o.labels = d.is_null("labels") ? "" : d.get_string("labels");
    o.system = d.get_string("system");
    return data::read_otlp(o, report);
  }
  throw ConfigError("unknown data format '" + format + "'", d.full_path("format"), "nezha, simulated, aiops2022, art or otlp");
}

void run_ingest(const JobContext& ctx) {
  if (!ctx.mpi.is_root()) return;  // one writer per store
  const config::Config d = ctx.cfg.sub("data");
  const std::string out = ctx.cfg.get_string("out");
  data::IngestReport report(d.get_bool("strict"));
  auto t0 = std::chrono::steady_clock::now();
  data::Telemetry telemetry = read_source(d, report);
  auto t1 = std::chrono::steady_clock::now();
  const auto options = windowing_options(d);
  auto windows = data::make_windows(telemetry, options);
  data::write_window_store(out, telemetry, windows, options);
  auto t2 = std::chrono::steady_clock::now();
  double read_s = std::chrono::duration<double>(t1 - t0).count(), total_s = std::chrono::duration<double>(t2 - t0).count();
  spdlog::info("read {}", report.summary());
  spdlog::info("ingest: {:.1f} MB in {:.2f} s ({:.1f} MB/s reading, {:.1f} MB/s end to end, 1 core)",
               report.bytes() / 1e6, total_s, report.bytes() / 1e6 / read_s, report.bytes() / 1e6 / total_s);
  data::WindowStoreReader store(out);
  spdlog::info("wrote {}\n{}", out, data::render_summary(data::summarize_store(store)));
}

}  // namespace rslicer::cli
