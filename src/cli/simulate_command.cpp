#include "cli/simulate_command.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>

#include "cli/ingest_command.h"
#include "core/error.h"
#include "data/nezha_writer.h"
#include "data/store_summary.h"
#include "data/time_parse.h"
#include "data/window_store.h"
#include "dist/mpi_context.h"

namespace rslicer::cli {

double parse_duration_s(const std::string& text, const std::string& key) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = text.substr(used);
  const double scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : -1;
  if (used == 0 || scale < 0 || !(value > 0) || !std::isfinite(value))
    throw ConfigError("bad duration '" + text + "'", key, "a positive number of seconds or 90m, 6h, 2d");
  return value * scale;
}

data::SimulatorSpec simulator_spec(const config::Config& cfg) {
  data::SimulatorSpec spec;
  const config::Config sys = cfg.sub("system");
  spec.system = sys.get_string("name");
  spec.nodes = static_cast<int>(sys.get_int("nodes"));
  spec.entry = sys.get_string("entry");
  const bool has_defaults = sys.has("defaults_per_service");
  for (const auto& name : sys.sub("services").keys()) {
    const config::Config s = sys.sub("services").sub(name);
    auto pick_int = [&](const std::string& k) {
      return s.has(k) ? s.get_int(k) : sys.sub("defaults_per_service").get_int(k);
    };
    auto pick = [&](const std::string& k) {
      return s.has(k) || !has_defaults ? s.get_double(k) : sys.sub("defaults_per_service").get_double(k);
    };
    data::ServiceSpec svc;
    svc.name = name;
    svc.replicas = static_cast<int>(s.has("replicas") || !has_defaults ? s.get_int("replicas") : pick_int("replicas"));
    svc.service_time_ms = pick("service_time_ms");
    svc.cpu_m_per_rps = pick("cpu_m_per_rps");
    svc.memory_mi = pick("memory_mi");
    svc.ops = s.get_string_list("ops");
    if (sys.sub("calls").has(name)) {
      const YAML::Node calls = sys.sub("calls").node()[name];
      for (std::size_t i = 0; i < calls.size(); ++i) {
        const std::string key = "system.calls." + name + "." + std::to_string(i);
        if (!calls[i].IsSequence() || calls[i].size() != 2)
          throw ConfigError("malformed call entry", key, "[callee, probability]");
        svc.calls.emplace_back(calls[i][0].as<std::string>(), calls[i][1].as<double>());
      }
    }
    spec.services.push_back(svc);
  }
  const config::Config w = cfg.sub("workload");
  spec.segment_min_s = w.get_double("segment_min_s");
  spec.segment_max_s = w.get_double("segment_max_s");
  spec.diurnal_amplitude = w.get_double("diurnal_amplitude");
  for (const auto& name : w.sub("regimes").keys()) {
    const config::Config r = w.sub("regimes").sub(name);
    data::RegimeSpec regime;
    regime.name = name;
    regime.rate_rps = r.get_double("rate_rps");
    regime.burstiness = r.get_double("burstiness");
    if (r.has("batch_cpu_m")) regime.batch_cpu_m = r.get_double("batch_cpu_m");
    if (r.has("batch_fraction")) regime.batch_fraction = r.get_double("batch_fraction");
    if (r.has("memory_pressure")) regime.memory_pressure = r.get_double("memory_pressure");
    spec.regimes.push_back(regime);
  }
  auto start = data::parse_datetime_ns(cfg.get_string("start_utc"));
  if (!start) throw ConfigError("bad start_utc '" + cfg.get_string("start_utc") + "'", "start_utc", "2024-03-04T00:00:00Z");
  spec.start_ns = *start;
  spec.duration_s = parse_duration_s(cfg.get_string("duration"), "duration");
  spec.metric_interval_s = cfg.get_double("metric_interval_s");
  spec.trace_sample_rate = cfg.get_double("trace_sample_rate");
  spec.log_probability = cfg.get_double("log_probability");
  const config::Config f = cfg.sub("faults");
  spec.fault_types = f.get_string_list("types");
  spec.fault_mean_gap_s = f.get_double("mean_gap_s");
  spec.fault_duration_s = f.get_double("duration_s");
  spec.fault_warmup_s = f.get_double("warmup_s");
  spec.seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  data::validate(spec);
  return spec;
}

void run_simulate(const JobContext& ctx) {
  if (!ctx.mpi.is_root()) return;
  const data::SimulatorSpec spec = simulator_spec(ctx.cfg);
  const std::string format = ctx.cfg.get_string("format");
  if (format != "store" && format != "nezha")
    throw ConfigError("unknown format '" + format + "'", "format", "store or nezha");
  std::string out = ctx.cfg.get_string("out");
  spdlog::info("simulating {} for {:.1f} h (seed {}, {} services, {} regimes, faults: {})", spec.system,
               spec.duration_s / 3600, spec.seed, spec.services.size(), spec.regimes.size(),
               spec.fault_types.size());
  auto t0 = std::chrono::steady_clock::now();
  data::Telemetry telemetry = data::simulate(spec);
  auto t1 = std::chrono::steady_clock::now();
  const double sim_s = std::chrono::duration<double>(t1 - t0).count();
  spdlog::info("simulated {} metric samples, {} spans, {} log lines, {} faults in {:.2f} s", telemetry.metrics.size(),
               telemetry.spans.size(), telemetry.logs.size(), telemetry.faults.size(), sim_s);
  if (format == "nezha") {
    data::write_nezha(out, telemetry);
    spdlog::info("wrote Nezha layout to {} (ingest with: rslicer ingest data=simulated data.path={})", out, out);
    return;
  }
  if (out.size() < 3 || out.substr(out.size() - 3) != ".h5") out += ".h5";
  const auto options = windowing_options(ctx.cfg);
  auto windows = data::make_windows(telemetry, options);
  data::write_window_store(out, telemetry, windows, options);
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("{} windows in {:.2f} s: {:.0f} windows/s simulated, {:.0f} windows/s with the store written",
               windows.size(), total_s, windows.size() / sim_s, windows.size() / total_s);
  data::WindowStoreReader store(out);
  spdlog::info("wrote {}\n{}", out, data::render_summary(data::summarize_store(store)));
}

}  // namespace rslicer::cli
